import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import type { Run } from '../api';
import { formatDuration } from '../time';

/** Like formatDuration, with milliseconds under a second (the axis of quick runs). */
function shortDuration(seconds: number): string {
  return seconds < 1
    ? `${Math.round(seconds * 1000)} ms`
    : formatDuration(seconds);
}
import { runSummary } from './RunStrip';

export interface DurationChartProps {
  runs: ReadonlyArray<Run>;
  trans: TranslationBundle;
  onOpenLog: (runId: number) => void;
}

const WIDTH = 520;
const HEIGHT = 120;
const PAD_LEFT = 48;
const PAD_BOTTOM = 16;

/** Success rate over the finished runs: success / (all finished but skipped). */
export function successRate(runs: ReadonlyArray<Run>): number | null {
  const counted = runs.filter(
    r => !['queued', 'running', 'skipped'].includes(r.status)
  );
  if (!counted.length) {
    return null;
  }
  return counted.filter(r => r.status === 'success').length / counted.length;
}

/**
 * Durations of a job's runs, oldest on the left, one bar per run coloured by
 * status (a click opens its log); the dashed line is the median.
 */
export function DurationChart(props: DurationChartProps): JSX.Element {
  const { trans } = props;
  const runs = props.runs
    .filter(r => r.duration_seconds !== null)
    .slice()
    .reverse();
  if (!runs.length) {
    return (
      <p className="jp-PipelineScheduler-muted">
        {trans.__('No finished run to chart yet.')}
      </p>
    );
  }
  const durations = runs.map(r => r.duration_seconds ?? 0);
  const max = Math.max(...durations, 0.001);
  const sorted = [...durations].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const plotW = WIDTH - PAD_LEFT;
  const plotH = HEIGHT - PAD_BOTTOM;
  const step = plotW / runs.length;
  const barW = Math.max(1, Math.min(14, step - 1));
  const y = (d: number) => plotH - (d / max) * (plotH - 4);
  return (
    <svg
      className="jp-PipelineScheduler-durationChart"
      data-testid="duration-chart"
      width={WIDTH}
      height={HEIGHT}
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={trans.__(
        'Durations of the last %1 runs; longest %2',
        runs.length,
        shortDuration(max)
      )}
    >
      <line
        className="jp-PipelineScheduler-axis"
        x1={PAD_LEFT}
        y1={plotH}
        x2={WIDTH}
        y2={plotH}
      />
      <text
        className="jp-PipelineScheduler-axisLabel"
        x={PAD_LEFT - 4}
        y={10}
        textAnchor="end"
      >
        {shortDuration(max)}
      </text>
      <text
        className="jp-PipelineScheduler-axisLabel"
        x={PAD_LEFT - 4}
        y={plotH}
        textAnchor="end"
      >
        0
      </text>
      {runs.map((run, i) => (
        <rect
          key={run.id}
          className={`jp-PipelineScheduler-durationBar jp-PipelineScheduler-run-${run.status}`}
          data-run-id={run.id}
          x={PAD_LEFT + i * step + (step - barW) / 2}
          y={y(run.duration_seconds ?? 0)}
          width={barW}
          height={Math.max(1, plotH - y(run.duration_seconds ?? 0))}
          onClick={() => props.onOpenLog(run.id)}
        >
          <title>{runSummary(run, trans)}</title>
        </rect>
      ))}
      <line
        className="jp-PipelineScheduler-median"
        x1={PAD_LEFT}
        y1={y(median)}
        x2={WIDTH}
        y2={y(median)}
      >
        <title>{trans.__('Median %1', shortDuration(median))}</title>
      </line>
    </svg>
  );
}
