import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import type { CompactRun } from '../api';
import { statusLabel } from '../components/StatusBadge';
import { formatAbsolute, formatDuration } from '../time';
import { STRIP_LENGTH } from './viewModel';

export interface RunStripProps {
  runs: ReadonlyArray<CompactRun> | undefined;
  trans: TranslationBundle;
  onOpenLog: (runId: number) => void;
}

const CELL = 7;
const GAP = 2;
const HEIGHT = 16;

/** What a run's mark says on hover: time, duration, status. */
export function runSummary(run: CompactRun, trans: TranslationBundle): string {
  const when = formatAbsolute(
    run.started_at ?? run.created_at,
    undefined,
    undefined,
    true
  );
  const duration = formatDuration(run.duration_seconds);
  return duration
    ? trans.__(
        'Run %1 · %2 · %3 · %4',
        run.id,
        when,
        duration,
        statusLabel(trans, run.status)
      )
    : trans.__(
        'Run %1 · %2 · %3',
        run.id,
        when,
        statusLabel(trans, run.status)
      );
}

/**
 * The last runs of a job as small coloured marks, oldest on the left; a
 * click opens the run's log. Failed marks are taller, so colour is not the
 * only cue.
 */
export function RunStrip(props: RunStripProps): JSX.Element {
  const { runs, trans } = props;
  const width = STRIP_LENGTH * (CELL + GAP);
  if (runs === undefined) {
    return (
      <span
        className="jp-PipelineScheduler-strip jp-mod-loading"
        aria-hidden="true"
      />
    );
  }
  const shown = runs.slice(0, STRIP_LENGTH).reverse();
  const offset = (STRIP_LENGTH - shown.length) * (CELL + GAP);
  return (
    <svg
      className="jp-PipelineScheduler-strip"
      width={width}
      height={HEIGHT}
      viewBox={`0 0 ${width} ${HEIGHT}`}
      role="list"
      aria-label={trans.__('Last %1 runs', shown.length)}
    >
      {Array.from({ length: STRIP_LENGTH - shown.length }, (_, i) => (
        <rect
          key={`empty-${i}`}
          className="jp-PipelineScheduler-stripEmpty"
          x={i * (CELL + GAP)}
          y={HEIGHT - 4}
          width={CELL}
          height={2}
        />
      ))}
      {shown.map((run, i) => {
        const isBad = run.status === 'failure' || run.status === 'timeout';
        const h = isBad ? HEIGHT : HEIGHT - 4;
        return (
          <rect
            key={run.id}
            role="listitem"
            className={`jp-PipelineScheduler-stripRun jp-PipelineScheduler-run-${run.status}`}
            data-run-id={run.id}
            data-status={run.status}
            x={offset + i * (CELL + GAP)}
            y={HEIGHT - h}
            width={CELL}
            height={h}
            rx={1.5}
            onClick={event => {
              event.stopPropagation();
              props.onOpenLog(run.id);
            }}
          >
            <title>{runSummary(run, trans)}</title>
          </rect>
        );
      })}
    </svg>
  );
}
