import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, deleteIcon, refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Job, Run } from '../api';
import { formatAbsolute, formatDuration, formatRelative } from '../time';
import { IconAction } from './JobCard';
import { StatusBadge, statusLabel, triggerLabel } from './StatusBadge';

const STATUSES = [
  'running',
  'queued',
  'success',
  'failure',
  'cancelled',
  'timeout',
  'interrupted',
  'skipped'
];

export interface RunListProps {
  runs: ReadonlyArray<Run>;
  jobs: ReadonlyArray<Job>;
  filter: { jobId: string; status: string };
  hasMore: boolean;
  isLoading: boolean;
  trans: TranslationBundle;
  onFilter: (filter: { jobId?: string; status?: string }) => void;
  onLoadMore: () => void;
  onRefresh: () => void;
  onOpenLog: (runId: number) => void;
  onDeleteRun: (run: Run) => void;
  onClearAll: () => void;
}

export function RunList(props: RunListProps): JSX.Element {
  const { runs, jobs, filter, trans } = props;
  const now = new Date();
  return (
    <div className="jp-scheduler-runs">
      <div className="jp-scheduler-filters">
        <select
          className="jp-mod-styled jp-scheduler-input"
          aria-label={trans.__('Filter by job')}
          name="filter_job"
          value={filter.jobId}
          onChange={e => props.onFilter({ jobId: e.currentTarget.value })}
        >
          <option value="">{trans.__('All jobs')}</option>
          {jobs.map(job => (
            <option key={job.id} value={job.id}>
              {job.name}
            </option>
          ))}
          {filter.jobId && !jobs.some(j => j.id === filter.jobId) && (
            <option value={filter.jobId}>{filter.jobId}</option>
          )}
        </select>
        <select
          className="jp-mod-styled jp-scheduler-input jp-scheduler-narrow"
          aria-label={trans.__('Filter by status')}
          name="filter_status"
          value={filter.status}
          onChange={e => props.onFilter({ status: e.currentTarget.value })}
        >
          <option value="">{trans.__('Any status')}</option>
          {STATUSES.map(status => (
            <option key={status} value={status}>
              {statusLabel(trans, status)}
            </option>
          ))}
        </select>
      </div>
      <div className="jp-scheduler-runsToolbar">
        <IconAction
          icon={refreshIcon}
          label={trans.__('Refresh the runs')}
          action="refresh-runs"
          onClick={props.onRefresh}
        />
        <Button
          type="button"
          small
          minimal
          className="jp-scheduler-dangerText"
          data-action="clear-runs"
          disabled={runs.length === 0}
          onClick={props.onClearAll}
        >
          {filter.jobId
            ? trans.__('Clear this job’s history')
            : trans.__('Clear all history')}
        </Button>
      </div>
      {runs.length === 0 ? (
        <p className="jp-scheduler-empty">
          {props.isLoading ? trans.__('Loading runs…') : trans.__('No runs.')}
        </p>
      ) : (
        <ul className="jp-scheduler-runList" aria-label={trans.__('Runs')}>
          {runs.map(run => (
            <li
              key={run.id}
              className="jp-scheduler-run"
              data-run-id={run.id}
              data-status={run.status}
            >
              <button
                type="button"
                className="jp-scheduler-runOpen"
                title={trans.__('Open the log of run %1', run.id)}
                onClick={() => props.onOpenLog(run.id)}
              >
                <div className="jp-scheduler-runHeader">
                  <StatusBadge status={run.status} trans={trans} />
                  <span className="jp-scheduler-runJob">{run.job_name}</span>
                  <span className="jp-scheduler-muted">#{run.id}</span>
                </div>
                <div className="jp-scheduler-runMeta jp-scheduler-muted">
                  <span>{triggerLabel(trans, run.triggered_by)}</span>
                  {run.started_at && (
                    <span title={formatAbsolute(run.started_at)}>
                      {' · '}
                      {formatRelative(run.started_at, now)}
                    </span>
                  )}
                  {run.duration_seconds !== null && (
                    <span>
                      {' · '}
                      {formatDuration(run.duration_seconds)}
                    </span>
                  )}
                </div>
              </button>
              <IconAction
                icon={deleteIcon}
                label={trans.__('Delete run %1', run.id)}
                action="delete-run"
                className="jp-scheduler-danger"
                onClick={() => props.onDeleteRun(run)}
              />
            </li>
          ))}
        </ul>
      )}
      {props.hasMore && (
        <div className="jp-scheduler-loadMore">
          <Button
            type="button"
            small
            disabled={props.isLoading}
            onClick={props.onLoadMore}
            data-action="load-more"
          >
            {props.isLoading ? trans.__('Loading…') : trans.__('Load more')}
          </Button>
        </div>
      )}
    </div>
  );
}
