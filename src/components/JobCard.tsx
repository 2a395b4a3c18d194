import type { TranslationBundle } from '@jupyterlab/translation';
import {
  copyIcon,
  deleteIcon,
  editIcon,
  historyIcon,
  LabIcon,
  pauseIcon,
  runIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Job } from '../api';
import { resumeIcon } from '../icon';
import { formatAbsolute, formatRelative } from '../time';
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

export function JobCard(props: JobCardProps): JSX.Element {
  const { job, trans, now } = props;
  const lastRun = job.last_run;
  return (
    <li
      className={`jp-scheduler-job${job.paused ? ' jp-scheduler-job-paused' : ''}`}
      data-job-id={job.id}
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
      <div className="jp-scheduler-jobSchedule">{job.schedule_description}</div>
      <div className="jp-scheduler-jobNext">
        <span className="jp-scheduler-label">{trans.__('Next run:')}</span>{' '}
        {job.next_run_time ? (
          <span
            className="jp-scheduler-nextRun"
            data-next-run={job.next_run_time}
            title={formatAbsolute(job.next_run_time)}
          >
            {formatRelative(job.next_run_time, now)}
            <span className="jp-scheduler-muted">
              {' · '}
              {formatAbsolute(job.next_run_time)}
            </span>
          </span>
        ) : (
          <span className="jp-scheduler-muted jp-scheduler-nextRun">
            {job.paused
              ? trans.__('none while paused')
              : job.schedule_type === 'trigger'
                ? trans.__('when its trigger jobs end')
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
              <span className="jp-scheduler-muted">
                {' '}
                {formatRelative(lastRun.finished_at, now)}
              </span>
            )}
          </button>
        ) : (
          <span className="jp-scheduler-muted">{trans.__('never')}</span>
        )}
      </div>
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
          label={trans.__('Run now')}
          action="run"
          onClick={() => props.onRunNow(job)}
        />
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
