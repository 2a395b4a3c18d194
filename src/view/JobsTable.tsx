import type { TranslationBundle } from '@jupyterlab/translation';
import { caretDownIcon, caretUpIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Job } from '../api';
import { StatusBadge } from '../components/StatusBadge';
import { formatAbsolute, formatDuration, formatRelative } from '../time';
import type { SortKey } from './jobFilter';
import { RunStrip } from './RunStrip';
import type { SchedulerViewModel } from './viewModel';

/** Every row has this height: the window of rendered rows follows scrollTop. */
export const ROW_HEIGHT = 34;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 8;

export interface JobsTableProps {
  jobs: ReadonlyArray<Job>;
  totalCount: number;
  viewModel: SchedulerViewModel;
  trans: TranslationBundle;
  sort: SortKey;
  isDescending: boolean;
  selected: ReadonlySet<string>;
  currentJobId: string | null;
  /** Narrow (the detail is open): name, outcome and runs only. */
  isCompact: boolean;
  onSort: (key: SortKey) => void;
  onToggleSelected: (jobId: string) => void;
  onSelectAll: (isSelected: boolean) => void;
  onOpenJob: (jobId: string) => void;
  onOpenLog: (runId: number) => void;
}

interface Column {
  key: SortKey | null;
  label: string;
}

/** The rows visible at this scroll position, with overscan. */
export function visibleRange(
  scrollTop: number,
  viewportHeight: number,
  count: number
): [number, number] {
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(
    count,
    Math.ceil((scrollTop + viewportHeight) / ROW_HEIGHT) + OVERSCAN
  );
  return [first, Math.max(first, last)];
}

function useElapsedClock(isTicking: boolean): number {
  const [now, setNow] = React.useState(() => Date.now());
  React.useEffect(() => {
    if (!isTicking) {
      return;
    }
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [isTicking]);
  return now;
}

/**
 * The jobs table: a header of sortable columns and a body that renders only
 * the rows in view (fixed row height, positioned by index), so 10,000 jobs
 * scroll and filter as fast as 20.
 */
export function JobsTable(props: JobsTableProps): JSX.Element {
  const { jobs, trans, viewModel } = props;
  const bodyRef = React.useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = React.useState(0);
  const [viewportHeight, setViewportHeight] = React.useState(600);
  const frame = React.useRef<number | null>(null);

  React.useLayoutEffect(() => {
    const body = bodyRef.current;
    if (!body) {
      return;
    }
    setViewportHeight(body.clientHeight || 600);
    const observer = new ResizeObserver(() =>
      setViewportHeight(body.clientHeight || 600)
    );
    observer.observe(body);
    return () => observer.disconnect();
  }, []);

  // A new filter that shortens the list past the scroll position: back to the top.
  React.useEffect(() => {
    const body = bodyRef.current;
    if (body && body.scrollTop > jobs.length * ROW_HEIGHT) {
      body.scrollTop = 0;
      setScrollTop(0);
    }
  }, [jobs.length]);

  const onScroll = () => {
    if (frame.current !== null) {
      return;
    }
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setScrollTop(bodyRef.current?.scrollTop ?? 0);
    });
  };
  React.useEffect(
    () => () => {
      if (frame.current !== null) {
        cancelAnimationFrame(frame.current);
      }
    },
    []
  );

  const [first, last] = visibleRange(scrollTop, viewportHeight, jobs.length);
  const shown = jobs.slice(first, last);
  React.useEffect(() => {
    viewModel.requestStrips(shown);
  });
  const now = useElapsedClock(shown.some(job => !!job.active_run));

  const columns: Column[] = [
    { key: 'name', label: trans.__('Name') },
    { key: 'file', label: trans.__('File') },
    { key: 'schedule', label: trans.__('Schedule') },
    { key: 'next', label: trans.__('Next run') },
    { key: 'outcome', label: trans.__('Last outcome') },
    { key: 'last', label: trans.__('Last runs') }
  ];
  const allSelected =
    jobs.length > 0 && jobs.every(job => props.selected.has(job.id));

  return (
    <div
      className={`jp-PipelineScheduler-jobsTable${props.isCompact ? ' jp-mod-compact' : ''}`}
      role="grid"
      aria-rowcount={jobs.length + 1}
      aria-label={trans.__('Scheduled jobs')}
    >
      <div
        className="jp-PipelineScheduler-row jp-PipelineScheduler-headerRow"
        role="row"
      >
        <span
          className="jp-PipelineScheduler-cell jp-PipelineScheduler-check"
          role="columnheader"
        >
          <input
            type="checkbox"
            aria-label={trans.__('Select all shown jobs')}
            checked={allSelected}
            onChange={event => props.onSelectAll(event.currentTarget.checked)}
          />
        </span>
        {columns.map(column => {
          const isSorted = props.sort === column.key;
          const Caret = props.isDescending ? caretDownIcon : caretUpIcon;
          return (
            <span
              key={column.label}
              role="columnheader"
              className="jp-PipelineScheduler-cell"
              aria-sort={
                isSorted
                  ? props.isDescending
                    ? 'descending'
                    : 'ascending'
                  : 'none'
              }
            >
              <button
                type="button"
                className="jp-PipelineScheduler-sortButton"
                data-sort={column.key ?? undefined}
                title={trans.__('Sort by %1', column.label)}
                onClick={() => column.key && props.onSort(column.key)}
              >
                {column.label}
                {isSorted && <Caret.react tag="span" elementSize="small" />}
              </button>
            </span>
          );
        })}
      </div>
      <div
        className="jp-PipelineScheduler-tableBody"
        ref={bodyRef}
        onScroll={onScroll}
        role="rowgroup"
      >
        {jobs.length === 0 && (
          <div className="jp-PipelineScheduler-empty" role="note">
            {props.totalCount === 0
              ? trans.__(
                  'No jobs yet. Schedule a pipeline from the sidebar or a file’s context menu.'
                )
              : trans.__('No job matches the search and filters.')}
          </div>
        )}
        <div
          className="jp-PipelineScheduler-tableSpacer"
          style={{ height: jobs.length * ROW_HEIGHT }}
        >
          {shown.map((job, i) => (
            <JobRow
              key={job.id}
              job={job}
              index={first + i}
              now={now}
              trans={trans}
              viewModel={viewModel}
              isSelected={props.selected.has(job.id)}
              isCurrent={props.currentJobId === job.id}
              onToggleSelected={props.onToggleSelected}
              onOpenJob={props.onOpenJob}
              onOpenLog={props.onOpenLog}
            />
          ))}
        </div>
      </div>
    </div>
  );
}

interface JobRowProps {
  job: Job;
  index: number;
  now: number;
  trans: TranslationBundle;
  viewModel: SchedulerViewModel;
  isSelected: boolean;
  isCurrent: boolean;
  onToggleSelected: (jobId: string) => void;
  onOpenJob: (jobId: string) => void;
  onOpenLog: (runId: number) => void;
}

function NextRun(props: { job: Job; trans: TranslationBundle }): JSX.Element {
  const { job, trans } = props;
  if (job.paused) {
    return (
      <span className="jp-PipelineScheduler-muted">{trans.__('paused')}</span>
    );
  }
  if (job.schedule_type === 'trigger') {
    return (
      <span className="jp-PipelineScheduler-muted">
        {trans.__('on trigger')}
      </span>
    );
  }
  if (job.schedule_type === 'file') {
    return (
      <span className="jp-PipelineScheduler-muted">
        {trans.__('on file arrival')}
      </span>
    );
  }
  if (!job.next_run_time) {
    return (
      <span className="jp-PipelineScheduler-muted">{trans.__('none')}</span>
    );
  }
  return (
    <time
      dateTime={job.next_run_time}
      title={formatAbsolute(job.next_run_time)}
    >
      {formatRelative(job.next_run_time)}
    </time>
  );
}

function Outcome(props: {
  job: Job;
  now: number;
  trans: TranslationBundle;
  onOpenLog: (runId: number) => void;
}): JSX.Element {
  const { job, trans } = props;
  const active = job.active_run;
  if (active) {
    const since = active.started_at ? Date.parse(active.started_at) : NaN;
    const elapsed = isNaN(since)
      ? ''
      : formatDuration(Math.max(0, (props.now - since) / 1000));
    return (
      <button
        type="button"
        className="jp-PipelineScheduler-activeRun"
        data-action="open-active-log"
        data-run-id={active.id}
        title={trans.__('Open the live log of run %1', active.id)}
        onClick={event => {
          event.stopPropagation();
          props.onOpenLog(active.id);
        }}
      >
        <StatusBadge status={active.status} trans={trans} />
        {elapsed && (
          <span className="jp-PipelineScheduler-elapsed">{elapsed}</span>
        )}
      </button>
    );
  }
  if (!job.last_run) {
    return (
      <span className="jp-PipelineScheduler-muted">
        {trans.__('never ran')}
      </span>
    );
  }
  return (
    <span title={formatAbsolute(job.last_run.finished_at)}>
      <StatusBadge status={job.last_run.status} trans={trans} />
    </span>
  );
}

const JobRow = React.memo((props: JobRowProps): JSX.Element => {
  const { job, trans } = props;
  useStripRerender(props.viewModel, job.id);
  const classes = ['jp-PipelineScheduler-row', 'jp-PipelineScheduler-jobRow'];
  if (props.isSelected) {
    classes.push('jp-mod-selected');
  }
  if (props.isCurrent) {
    classes.push('jp-mod-current');
  }
  return (
    <div
      className={classes.join(' ')}
      role="row"
      aria-rowindex={props.index + 2}
      aria-selected={props.isCurrent}
      data-job-id={job.id}
      tabIndex={0}
      style={{ top: props.index * ROW_HEIGHT }}
      onClick={() => props.onOpenJob(job.id)}
      onKeyDown={event => {
        if (event.key === 'Enter') {
          props.onOpenJob(job.id);
        } else if (event.key === ' ') {
          event.preventDefault();
          props.onToggleSelected(job.id);
        }
      }}
    >
      <span
        className="jp-PipelineScheduler-cell jp-PipelineScheduler-check"
        role="gridcell"
      >
        <input
          type="checkbox"
          aria-label={trans.__('Select %1', job.name)}
          checked={props.isSelected}
          onClick={event => event.stopPropagation()}
          onChange={() => props.onToggleSelected(job.id)}
        />
      </span>
      <span
        className="jp-PipelineScheduler-cell jp-PipelineScheduler-name"
        role="gridcell"
        title={job.name}
      >
        {job.name}
      </span>
      <span
        className="jp-PipelineScheduler-cell jp-PipelineScheduler-file"
        role="gridcell"
        title={job.pipeline_path}
      >
        {job.pipeline_path}
      </span>
      <span
        className="jp-PipelineScheduler-cell"
        role="gridcell"
        title={job.schedule_description}
      >
        {job.schedule_description}
      </span>
      <span className="jp-PipelineScheduler-cell" role="gridcell">
        <NextRun job={job} trans={trans} />
      </span>
      <span className="jp-PipelineScheduler-cell" role="gridcell">
        <Outcome
          job={job}
          now={props.now}
          trans={trans}
          onOpenLog={props.onOpenLog}
        />
      </span>
      <span className="jp-PipelineScheduler-cell" role="gridcell">
        <RunStrip
          runs={props.viewModel.strip(job.id)}
          trans={trans}
          onOpenLog={props.onOpenLog}
        />
      </span>
    </div>
  );
});

/** Re-render one row when the strips arrive and its own strip changed. */
function useStripRerender(viewModel: SchedulerViewModel, jobId: string): void {
  const [, bump] = React.useReducer((n: number) => n + 1, 0);
  React.useEffect(() => {
    let current = viewModel.strip(jobId);
    const slot = () => {
      const next = viewModel.strip(jobId);
      if (next !== current) {
        current = next;
        bump();
      }
    };
    viewModel.stripsChanged.connect(slot);
    return () => {
      viewModel.stripsChanged.disconnect(slot);
    };
  }, [viewModel, jobId]);
}
