import type { TranslationBundle } from '@jupyterlab/translation';
import {
  copyIcon,
  deleteIcon,
  editIcon,
  historyIcon,
  jumpBackIcon,
  LabIcon,
  launchIcon,
  pauseIcon,
  runIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import type { ActiveRun, Job } from '../api';
import { resumeIcon } from '../icon';
import { canBackfill } from './OrchestrationDialogs';
import { formatDuration, formatRelative, formatTimestamp } from '../time';
import { StatusBadge } from './StatusBadge';

export interface JobCardActions {
  onRunNow: (job: Job) => void;
  onTogglePause: (job: Job) => void;
  onEdit: (job: Job) => void;
  onDuplicate: (job: Job) => void;
  onDelete: (job: Job) => void;
  onShowRuns: (job: Job) => void;
  onOpenLog: (runId: number) => void;
  onRegenerate: (job: Job) => void;
  /** "Run with…": a run with other parameters, env or timeout. */
  onRunWith?: (job: Job) => void;
  /** "Backfill…": run the fire times of a past range. */
  onBackfill?: (job: Job) => void;
  /** A Run now of this job is on its way to the server. */
  isStarting?: (job: Job) => boolean;
  /** The job's pipeline file is gone from the workspace (model.fileMissing). */
  isFileMissing?: (job: Job) => boolean;
}

export interface JobCardProps extends JobCardActions {
  job: Job;
  trans: TranslationBundle;
  now: Date;
}

interface IconActionProps {
  icon: LabIcon;
  label: string;
  onClick: () => void;
  action: string;
  className?: string;
  disabled?: boolean;
}

/** A small icon button with a visible tooltip and an accessible name. */
export function IconAction(props: IconActionProps): JSX.Element {
  return (
    <button
      type="button"
      className={`jp-scheduler-iconButton ${props.className ?? ''}`}
      title={props.label}
      aria-label={props.label}
      data-action={props.action}
      disabled={props.disabled}
      onClick={props.onClick}
    >
      <props.icon.react tag="span" elementSize="normal" />
    </button>
  );
}

/** Seconds since `iso`, moving on every second while shown. */
function useElapsedSeconds(iso: string | null): number | null {
  const [now, setNow] = React.useState(() => Date.now());
  React.useEffect(() => {
    if (!iso) {
      return;
    }
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [iso]);
  if (!iso) {
    return null;
  }
  const started = new Date(iso).getTime();
  return isNaN(started) ? null : Math.max(0, (now - started) / 1000);
}

/** "Running for 42 s · Live log", on the card of a job with an active run. */
function ActiveRunLine(props: {
  run: ActiveRun;
  trans: TranslationBundle;
  onOpenLog: (runId: number) => void;
}): JSX.Element {
  const { run, trans } = props;
  const elapsed = useElapsedSeconds(run.started_at);
  return (
    <div
      className="jp-scheduler-jobActive"
      role="status"
      data-testid="active-run"
      data-run-id={run.id}
      data-status={run.status}
    >
      <StatusBadge status={run.status} trans={trans} />
      {elapsed !== null && (
        <span
          className="jp-scheduler-elapsed"
          title={trans.__('started %1', formatTimestamp(run.started_at))}
        >
          {trans.__('for %1', formatDuration(Math.floor(elapsed)))}
        </span>
      )}
      <button
        type="button"
        className="jp-scheduler-linkButton"
        data-action="live-log"
        title={trans.__('Open the live log of run %1', run.id)}
        onClick={() => props.onOpenLog(run.id)}
      >
        {trans.__('Live log')}
      </button>
    </div>
  );
}

export function JobCard(props: JobCardProps): JSX.Element {
  const { job, trans, now } = props;
  const lastRun = job.last_run;
  const activeRun = job.active_run ?? null;
  const isStarting = props.isStarting?.(job) ?? false;
  return (
    <li
      className={`jp-scheduler-job${job.paused ? ' jp-scheduler-job-paused' : ''}${activeRun ? ' jp-scheduler-job-active' : ''}`}
      data-job-id={job.id}
      data-active={activeRun ? activeRun.status : undefined}
      data-job-name={job.name}
      aria-label={job.name}
    >
      <div className="jp-scheduler-jobHeader">
        <span className="jp-scheduler-jobName">{job.name}</span>
        {job.paused && (
          <span className="jp-scheduler-pill jp-scheduler-pausedPill">
            {trans.__('Paused')}
          </span>
        )}
      </div>
      <div className="jp-scheduler-jobPath" title={job.pipeline_path}>
        {job.pipeline_path}
      </div>
      {props.isFileMissing?.(job) && (
        <div
          className="jp-scheduler-fileMissing"
          role="status"
          data-testid="file-missing"
        >
          {trans.__(
            'This file is no longer in the workspace: its next run will fail. Restore the file, or edit the job to point at another.'
          )}
        </div>
      )}
      <div className="jp-scheduler-jobSchedule">{job.schedule_description}</div>
      <div className="jp-scheduler-jobNext">
        <span className="jp-scheduler-label">{trans.__('Next run:')}</span>{' '}
        {job.next_run_time ? (
          <span
            className="jp-scheduler-nextRun"
            data-next-run={job.next_run_time}
            title={formatTimestamp(job.next_run_time)}
          >
            {formatRelative(job.next_run_time, now)}
            <span className="jp-scheduler-muted">
              {' · '}
              {formatTimestamp(job.next_run_time)}
            </span>
          </span>
        ) : (
          <span className="jp-scheduler-muted jp-scheduler-nextRun">
            {job.paused
              ? trans.__('none while paused')
              : job.schedule_type === 'trigger'
                ? trans.__('when its trigger jobs end')
                : job.schedule_type === 'file'
                  ? trans.__('when its files arrive')
                  : trans.__('none')}
          </span>
        )}
      </div>
      <div className="jp-scheduler-jobLast">
        <span className="jp-scheduler-label">{trans.__('Last run:')}</span>{' '}
        {lastRun ? (
          <button
            type="button"
            className="jp-scheduler-linkButton"
            title={trans.__('Open the log of run %1', lastRun.id)}
            onClick={() => props.onOpenLog(lastRun.id)}
            data-last-run-id={lastRun.id}
          >
            <StatusBadge status={lastRun.status} trans={trans} />
            {lastRun.finished_at && (
              <span
                className="jp-scheduler-muted"
                title={formatTimestamp(lastRun.finished_at)}
              >
                {' '}
                {formatRelative(lastRun.finished_at, now)}
              </span>
            )}
          </button>
        ) : (
          <span className="jp-scheduler-muted">{trans.__('never')}</span>
        )}
      </div>
      {activeRun && (
        <ActiveRunLine
          run={activeRun}
          trans={trans}
          onOpenLog={props.onOpenLog}
        />
      )}
      {job.pipeline_changed && (
        <div className="jp-scheduler-changed" role="status">
          <span>
            {trans.__('The pipeline changed since its code was generated.')}
          </span>
          <button
            type="button"
            className="jp-scheduler-linkButton"
            data-action="regenerate"
            onClick={() => props.onRegenerate(job)}
          >
            {trans.__('Regenerate code')}
          </button>
        </div>
      )}
      <div className="jp-scheduler-jobActions">
        <IconAction
          icon={runIcon}
          label={
            isStarting
              ? trans.__('Starting…')
              : activeRun
                ? trans.__(
                    'Run now: not while run %1 is active (see its live log)',
                    activeRun.id
                  )
                : trans.__('Run now')
          }
          action="run"
          disabled={isStarting || activeRun !== null}
          onClick={() => props.onRunNow(job)}
        />
        {props.onRunWith && (
          <IconAction
            icon={launchIcon}
            label={trans.__('Run with…')}
            action="run-with"
            disabled={isStarting}
            onClick={() => props.onRunWith?.(job)}
          />
        )}
        {props.onBackfill && canBackfill(job) && (
          <IconAction
            icon={jumpBackIcon}
            label={trans.__('Backfill…')}
            action="backfill"
            onClick={() => props.onBackfill?.(job)}
          />
        )}
        <IconAction
          icon={job.paused ? resumeIcon : pauseIcon}
          label={job.paused ? trans.__('Resume') : trans.__('Pause')}
          action={job.paused ? 'resume' : 'pause'}
          className={job.paused ? 'jp-scheduler-resume' : ''}
          onClick={() => props.onTogglePause(job)}
        />
        <IconAction
          icon={editIcon}
          label={trans.__('Edit')}
          action="edit"
          onClick={() => props.onEdit(job)}
        />
        <IconAction
          icon={copyIcon}
          label={trans.__('Duplicate')}
          action="duplicate"
          onClick={() => props.onDuplicate(job)}
        />
        <IconAction
          icon={historyIcon}
          label={trans.__('Runs of this job')}
          action="runs"
          onClick={() => props.onShowRuns(job)}
        />
        <IconAction
          icon={deleteIcon}
          label={trans.__('Delete')}
          action="delete"
          className="jp-scheduler-danger"
          onClick={() => props.onDelete(job)}
        />
      </div>
    </li>
  );
}
