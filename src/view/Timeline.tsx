import type { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { CompactRun, Job } from '../api';
import { useSignalRerender } from '../components/useSignal';
import { runSummary } from './RunStrip';
import type { SchedulerViewModel } from './viewModel';

export interface TimelineProps {
  viewModel: SchedulerViewModel;
  jobs: ReadonlyArray<Job>;
  trans: TranslationBundle;
  onOpenLog: (runId: number) => void;
  onOpenJob: (jobId: string) => void;
}

const LABEL_W = 200;
const ROW_H = 22;
const AXIS_H = 24;
const MAX_ROWS = 400;
const PRESET_HOURS = [1, 6, 24, 24 * 7];
const STEPS = [
  60,
  300,
  600,
  900,
  1800,
  3600,
  2 * 3600,
  3 * 3600,
  6 * 3600,
  12 * 3600,
  86400,
  2 * 86400,
  7 * 86400,
  14 * 86400,
  30 * 86400
].map(s => s * 1000);

/** Tick instants for an axis of ~8 labels, on round local times. */
export function ticks(since: number, until: number): number[] {
  const span = until - since;
  const step = STEPS.find(s => span / s <= 10) ?? STEPS[STEPS.length - 1];
  const offset = new Date(since).getTimezoneOffset() * 60_000;
  let t = Math.ceil((since - offset) / step) * step + offset;
  const out: number[] = [];
  for (; t <= until; t += step) {
    out.push(t);
  }
  return out;
}

function toLocalInput(date: Date): string {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

interface Row {
  jobId: string;
  name: string;
  runs: CompactRun[];
}

/** Runs grouped per job, rows ordered by name. */
export function timelineRows(
  runs: ReadonlyArray<CompactRun>,
  jobs: ReadonlyArray<Job>
): Row[] {
  const names = new Map(jobs.map(j => [j.id, j.name]));
  const rows = new Map<string, Row>();
  for (const run of runs) {
    let row = rows.get(run.job_id);
    if (!row) {
      row = {
        jobId: run.job_id,
        name: names.get(run.job_id) ?? run.job_id,
        runs: []
      };
      rows.set(run.job_id, row);
    }
    row.runs.push(run);
  }
  return [...rows.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function useWidth(ref: React.RefObject<HTMLElement>): number {
  const [width, setWidth] = React.useState(900);
  React.useLayoutEffect(() => {
    const el = ref.current;
    if (!el) {
      return;
    }
    setWidth(el.clientWidth || 900);
    const observer = new ResizeObserver(() => setWidth(el.clientWidth || 900));
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return width;
}

/**
 * A Gantt of runs per job over a time range: the queued part of a run
 * (created to started) in a lighter shade, the run itself (started to
 * finished, or now) in its status colour, so overlaps and long runs stand out.
 */
export function Timeline(props: TimelineProps): JSX.Element {
  const { viewModel, trans } = props;
  useSignalRerender(viewModel.timelineChanged);
  const boxRef = React.useRef<HTMLDivElement>(null);
  const width = Math.max(400, useWidth(boxRef));
  const range = viewModel.timelineRange;
  const [from, setFrom] = React.useState(toLocalInput(range.since));
  const [to, setTo] = React.useState(toLocalInput(range.until));
  // A range chosen: the From/To fields show it (a live range's refreshes leave them be).
  const choice = viewModel.timelineChoice;
  React.useEffect(() => {
    const chosen = viewModel.timelineRange;
    setFrom(toLocalInput(chosen.since));
    setTo(toLocalInput(chosen.until));
  }, [viewModel, choice]);
  const timeline = viewModel.timeline;
  const rows = React.useMemo(
    () => timelineRows(timeline?.runs ?? [], props.jobs),
    [timeline, props.jobs]
  );
  const since = timeline ? Date.parse(timeline.since) : range.since.getTime();
  const until = timeline ? Date.parse(timeline.until) : range.until.getTime();
  const now = Date.now();
  const plotW = width - LABEL_W - 8;
  const x = (t: number) =>
    LABEL_W +
    ((Math.min(Math.max(t, since), until) - since) / (until - since)) * plotW;
  const shown = rows.slice(0, MAX_ROWS);
  const height = AXIS_H + shown.length * ROW_H + 4;
  const activeHours = range.isLive
    ? Math.round((range.until.getTime() - range.since.getTime()) / 3600_000)
    : null;

  return (
    <div className="jp-PipelineScheduler-timeline" data-testid="runs-timeline">
      <div
        className="jp-PipelineScheduler-toolbar"
        role="toolbar"
        aria-label={trans.__('Time range')}
      >
        <span className="jp-PipelineScheduler-muted">{trans.__('Last')}</span>
        {PRESET_HOURS.map(hours => (
          <Button
            key={hours}
            type="button"
            small
            minimal={activeHours !== hours}
            aria-pressed={activeHours === hours}
            data-range-hours={hours}
            onClick={() => viewModel.setTimelineWindow(hours)}
          >
            {hours < 48
              ? trans.__('%1 h', hours)
              : trans.__('%1 days', hours / 24)}
          </Button>
        ))}
        <label className="jp-PipelineScheduler-rangeField">
          {trans.__('From')}
          <input
            type="datetime-local"
            value={from}
            onChange={e => setFrom(e.currentTarget.value)}
          />
        </label>
        <label className="jp-PipelineScheduler-rangeField">
          {trans.__('To')}
          <input
            type="datetime-local"
            value={to}
            onChange={e => setTo(e.currentTarget.value)}
          />
        </label>
        <Button
          type="button"
          small
          data-action="apply-range"
          onClick={() => {
            const a = new Date(from);
            const b = new Date(to);
            if (!isNaN(a.getTime()) && !isNaN(b.getTime()) && a < b) {
              viewModel.setTimelineRange(a, b);
            }
          }}
        >
          {trans.__('Show')}
        </Button>
        <span className="jp-PipelineScheduler-legend">
          <span className="jp-PipelineScheduler-legendQueued" />{' '}
          {trans.__('queued')}
          <span className="jp-PipelineScheduler-legendRun jp-PipelineScheduler-run-success" />{' '}
          {trans.__('success')}
          <span className="jp-PipelineScheduler-legendRun jp-PipelineScheduler-run-failure" />{' '}
          {trans.__('failure')}
          <span className="jp-PipelineScheduler-legendRun jp-PipelineScheduler-run-running" />{' '}
          {trans.__('running')}
        </span>
      </div>
      {viewModel.timelineError && (
        <div className="jp-PipelineScheduler-error" role="alert">
          {viewModel.timelineError}
        </div>
      )}
      {timeline?.truncated && (
        <p className="jp-PipelineScheduler-warning">
          {trans.__(
            'Only the newest %1 runs of this range are drawn; choose a shorter range.',
            timeline.runs.length
          )}
        </p>
      )}
      <div className="jp-PipelineScheduler-timelineBox" ref={boxRef}>
        {timeline && !rows.length && (
          <p className="jp-PipelineScheduler-muted">
            {trans.__('No run in this range.')}
          </p>
        )}
        {rows.length > 0 && (
          <svg
            className="jp-PipelineScheduler-gantt"
            width={width}
            height={height}
            role="img"
            aria-label={trans.__(
              '%1 runs of %2 jobs',
              timeline?.runs.length ?? 0,
              rows.length
            )}
          >
            {ticks(since, until).map(t => (
              <g key={t} className="jp-PipelineScheduler-tick">
                <line x1={x(t)} y1={AXIS_H - 4} x2={x(t)} y2={height} />
                <text x={x(t)} y={AXIS_H - 8} textAnchor="middle">
                  {until - since > 2 * 86400_000
                    ? new Date(t).toLocaleDateString(undefined, {
                        month: 'short',
                        day: 'numeric'
                      })
                    : new Date(t).toLocaleTimeString(undefined, {
                        hour: '2-digit',
                        minute: '2-digit'
                      })}
                </text>
              </g>
            ))}
            {now >= since && now <= until && (
              <line
                className="jp-PipelineScheduler-now"
                x1={x(now)}
                y1={AXIS_H - 4}
                x2={x(now)}
                y2={height}
              />
            )}
            {shown.map((row, i) => {
              const y = AXIS_H + i * ROW_H;
              return (
                <g
                  key={row.jobId}
                  className="jp-PipelineScheduler-ganttRow"
                  data-job-id={row.jobId}
                >
                  <rect
                    className="jp-PipelineScheduler-ganttStripe"
                    x={0}
                    y={y}
                    width={width}
                    height={ROW_H}
                  />
                  <text
                    className="jp-PipelineScheduler-ganttLabel"
                    x={6}
                    y={y + ROW_H / 2}
                    dominantBaseline="central"
                    onClick={() => props.onOpenJob(row.jobId)}
                  >
                    {row.name.length > 26
                      ? `${row.name.slice(0, 25)}…`
                      : row.name}
                    <title>{row.name}</title>
                  </text>
                  {row.runs.map(run => {
                    const created = run.created_at
                      ? Date.parse(run.created_at)
                      : NaN;
                    const started = run.started_at
                      ? Date.parse(run.started_at)
                      : NaN;
                    const finished = run.finished_at
                      ? Date.parse(run.finished_at)
                      : now;
                    const start = isNaN(started) ? finished : started;
                    const queuedFrom = isNaN(created) ? start : created;
                    const runX = x(start);
                    const runW = Math.max(2, x(finished) - runX);
                    const queuedW = x(start) - x(queuedFrom);
                    return (
                      <g
                        key={run.id}
                        className="jp-PipelineScheduler-timelineBar"
                        data-run-id={run.id}
                        data-status={run.status}
                        onClick={() => props.onOpenLog(run.id)}
                      >
                        <title>{runSummary(run, trans)}</title>
                        {queuedW >= 1 && (
                          <rect
                            className="jp-PipelineScheduler-queued"
                            x={x(queuedFrom)}
                            y={y + 6}
                            width={queuedW}
                            height={ROW_H - 12}
                          />
                        )}
                        {!isNaN(started) && (
                          <rect
                            className={`jp-PipelineScheduler-run-${run.status}`}
                            x={runX}
                            y={y + 4}
                            width={runW}
                            height={ROW_H - 8}
                            rx={2}
                          />
                        )}
                      </g>
                    );
                  })}
                </g>
              );
            })}
          </svg>
        )}
        {rows.length > MAX_ROWS && (
          <p className="jp-PipelineScheduler-muted">
            {trans.__(
              '%1 more jobs ran in this range; narrow it to see them.',
              rows.length - MAX_ROWS
            )}
          </p>
        )}
      </div>
    </div>
  );
}
