import type { TranslationBundle } from '@jupyterlab/translation';
import {
  Button,
  deleteIcon,
  downloadIcon,
  redoIcon,
  refreshIcon,
  stopIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { isActiveStatus } from '../api';
import type { Job, Run } from '../api';
import { formatDuration, formatRelative, formatTimestamp } from '../time';
import { IconAction } from './JobCard';
import {
  attemptLabel,
  StatusBadge,
  statusLabel,
  triggerLabel
} from './StatusBadge';

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
  isStopping: (runId: number) => boolean;
  onFilter: (filter: { jobId?: string; status?: string }) => void;
  onLoadMore: () => void;
  onRefresh: () => void;
  onOpenLog: (runId: number) => void;
  onDeleteRun: (run: Run) => void;
  onCancelRun: (run: Run) => void;
  /** Run a finished run again (its logical time and overrides). */
  onRerun?: (run: Run) => void;
  onDownloadNotebook: (run: Run) => void;
  onClearAll: () => void;
}

/** The markers of a run next to its status: retry attempt, stale .ampln code. */
export function RunMarkers(props: {
  run: Run;
  job: Job | undefined;
  trans: TranslationBundle;
}): JSX.Element {
  const { run, job, trans } = props;
  const attempt = attemptLabel(trans, run.attempt, job?.max_retries);
  return (
    <>
      {attempt && (
        <span
          className="jp-scheduler-pill jp-scheduler-attempt"
          data-attempt={run.attempt}
        >
          {attempt}
        </span>
      )}
      {run.pipeline_changed && (
        <span
          className="jp-scheduler-pill jp-scheduler-changedPill"
          data-testid="pipeline-changed"
          title={trans.__(
            'The pipeline file had changed after its code was generated: this run used the stored code.'
          )}
        >
          {trans.__('pipeline changed')}
        </span>
      )}
    </>
  );
}

/** When it started; for a run that never did, its fire time or creation. */
function shownTime(run: Run): string | null {
  return run.started_at ?? run.scheduled_for ?? run.created_at ?? null;
}

export function RunList(props: RunListProps): JSX.Element {
  const { runs, jobs, filter, trans } = props;
  const now = new Date();
  const jobsById = new Map(jobs.map(j => [j.id, j]));
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
          {runs.map(run => {
            const isActive = isActiveStatus(run.status);
            const isStopping = props.isStopping(run.id);
            return (
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
                    {run.job_version ? (
                      <span data-testid="run-job-version">
                        {' · '}
                        {trans.__('version %1', run.job_version)}
                      </span>
                    ) : null}
                    {run.backend === 'ray' && (
                      <span
                        data-testid="run-backend"
                        title={run.ray_submission_id ?? ''}
                      >
                        {' · '}
                        {trans.__('on Ray')}
                      </span>
                    )}
                    {shownTime(run) && (
                      <span title={formatTimestamp(shownTime(run))}>
                        {' · '}
                        {formatRelative(shownTime(run), now)}
                      </span>
                    )}
                    {run.duration_seconds !== null && (
                      <span>
                        {' · '}
                        {formatDuration(run.duration_seconds)}
                      </span>
                    )}
                  </div>
                  {(run.attempt ?? 1) > 1 || run.pipeline_changed ? (
                    <div className="jp-scheduler-runMarkers">
                      <RunMarkers
                        run={run}
                        job={jobsById.get(run.job_id)}
                        trans={trans}
                      />
                    </div>
                  ) : null}
                  {run.message && (
                    <div
                      className="jp-scheduler-runMessage"
                      title={run.message}
                    >
                      {run.message}
                    </div>
                  )}
                </button>
                <div className="jp-scheduler-runActions">
                  {run.has_notebook && (
                    <IconAction
                      icon={downloadIcon}
                      label={trans.__(
                        'Download the executed notebook of run %1',
                        run.id
                      )}
                      action="download-notebook"
                      onClick={() => props.onDownloadNotebook(run)}
                    />
                  )}
                  {isActive ? (
                    <IconAction
                      icon={stopIcon}
                      label={
                        isStopping
                          ? trans.__('Stopping run %1…', run.id)
                          : run.status === 'queued'
                            ? trans.__('Cancel run %1 (queued)', run.id)
                            : trans.__('Stop run %1', run.id)
                      }
                      action="cancel-run"
                      className="jp-scheduler-danger"
                      disabled={isStopping}
                      onClick={() => props.onCancelRun(run)}
                    />
                  ) : (
                    props.onRerun && (
                      <IconAction
                        icon={redoIcon}
                        label={trans.__('Re-run run %1', run.id)}
                        action="rerun"
                        onClick={() => props.onRerun?.(run)}
                      />
                    )
                  )}
                  {!isActive && (
                    <IconAction
                      icon={deleteIcon}
                      label={trans.__('Delete run %1', run.id)}
                      action="delete-run"
                      className="jp-scheduler-danger"
                      onClick={() => props.onDeleteRun(run)}
                    />
                  )}
                </div>
              </li>
            );
          })}
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
