import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import {
  addIcon,
  Button,
  closeIcon,
  launchIcon,
  refreshIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import type { SchedulerModel } from '../model';
import { JobForm, JobFormProps } from './JobForm';
import { IconAction } from './JobCard';
import { JobList } from './JobList';
import { RunList } from './RunList';
import { useSignalRerender } from './useSignal';

export interface SchedulerViewProps {
  model: SchedulerModel;
  trans: TranslationBundle;
  onOpenLog: (runId: number) => void;
  /** Open the main-area Scheduler view (jobs table, timeline). */
  onOpenView?: () => void;
}

async function confirm(
  title: string,
  body: string,
  acceptLabel: string,
  trans: TranslationBundle
): Promise<boolean> {
  const result = await showDialog({
    title,
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: acceptLabel })
    ]
  });
  return result.button.accept;
}

/**
 * The sidebar: jobs, runs, and the job form. It re-renders when the view
 * changes; each part below subscribes to the signal of what it shows.
 */
export function SchedulerView(props: SchedulerViewProps): JSX.Element {
  const { model, trans } = props;
  useSignalRerender(model.sidebar.viewChanged);
  const view = model.view;
  const tab = view.kind === 'runs' ? 'runs' : 'jobs';

  return (
    <div className="jp-scheduler-view">
      <div className="jp-scheduler-header">
        <h2 className="jp-scheduler-title">{trans.__('Scheduler')}</h2>
        <div className="jp-scheduler-headerActions">
          <Button
            type="button"
            small
            onClick={() => model.showNewJobForm()}
            data-action="new-job"
            title={trans.__('Schedule a pipeline')}
          >
            <addIcon.react tag="span" elementSize="normal" />
            {trans.__('New job')}
          </Button>
          <IconAction
            icon={refreshIcon}
            label={trans.__('Refresh')}
            action="refresh"
            onClick={() => void model.refresh()}
          />
          {props.onOpenView && (
            <IconAction
              icon={launchIcon}
              label={trans.__('Open the Scheduler view in the main area')}
              action="open-view"
              onClick={props.onOpenView}
            />
          )}
        </div>
      </div>
      <div className="jp-scheduler-tabs" role="tablist">
        <button
          type="button"
          role="tab"
          aria-selected={tab === 'jobs'}
          className={`jp-scheduler-tab${tab === 'jobs' ? ' jp-mod-current' : ''}`}
          data-tab="jobs"
          onClick={() => model.showJobs()}
        >
          {trans.__('Jobs')}
          <JobCount model={model} />
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={tab === 'runs'}
          className={`jp-scheduler-tab${tab === 'runs' ? ' jp-mod-current' : ''}`}
          data-tab="runs"
          onClick={() => model.showRuns()}
        >
          {trans.__('Runs')}
        </button>
      </div>

      <StandbyNotice model={model} trans={trans} />
      <BannerBar model={model} trans={trans} />

      <div className="jp-scheduler-body" role="tabpanel">
        {view.kind === 'form' && (
          <FormPane
            key={view.key}
            model={model}
            trans={trans}
            mode={view.mode}
            jobId={view.jobId}
            initial={view.initial}
          />
        )}
        {view.kind === 'jobs' && (
          <JobsPane model={model} trans={trans} onOpenLog={props.onOpenLog} />
        )}
        {view.kind === 'runs' && (
          <RunsPane model={model} trans={trans} onOpenLog={props.onOpenLog} />
        )}
      </div>
    </div>
  );
}

interface PartProps {
  model: SchedulerModel;
  trans: TranslationBundle;
}

function JobCount(props: { model: SchedulerModel }): JSX.Element {
  useSignalRerender(props.model.jobsStore.jobsChanged);
  return <span className="jp-scheduler-count">{props.model.jobs.length}</span>;
}

function StandbyNotice({ model, trans }: PartProps): JSX.Element | null {
  useSignalRerender(model.configStore.configChanged);
  if (model.schedulerState !== 'standby') {
    return null;
  }
  return (
    <div
      className="jp-scheduler-standby"
      role="status"
      data-testid="standby-notice"
    >
      {trans.__(
        "Another Jupyter server runs this workspace's schedules; this one serves the API."
      )}
    </div>
  );
}

function BannerBar({ model, trans }: PartProps): JSX.Element | null {
  useSignalRerender(model.sidebar.bannerChanged);
  const banner = model.banner;
  if (!banner) {
    return null;
  }
  return (
    <div
      className={`jp-scheduler-banner jp-scheduler-banner-${banner.kind}`}
      role={banner.kind === 'error' ? 'alert' : 'status'}
      data-testid="banner"
    >
      <span>{banner.text}</span>
      <button
        type="button"
        className="jp-scheduler-iconButton"
        aria-label={trans.__('Dismiss')}
        title={trans.__('Dismiss')}
        onClick={() => model.dismissBanner()}
      >
        <closeIcon.react tag="span" elementSize="normal" />
      </button>
    </div>
  );
}

/** The job form; it lists the other jobs (trigger conditions), so it follows them. */
function FormPane(
  props: PartProps & Omit<JobFormProps, 'onCancel'>
): JSX.Element {
  const { model } = props;
  useSignalRerender(model.jobsStore.jobsChanged);
  return <JobForm {...props} onCancel={() => model.showJobs()} />;
}

function JobsPane({
  model,
  trans,
  onOpenLog
}: PartProps & { onOpenLog: (runId: number) => void }): JSX.Element {
  useSignalRerender(model.jobsStore.jobsChanged);
  useSignalRerender(model.files.missingChanged);
  return (
    <JobList
      jobs={model.jobs}
      isLoaded={model.jobsLoaded}
      trans={trans}
      onNewJob={() => model.showNewJobForm()}
      onRunNow={job => void model.runNow(job.id)}
      isStarting={job => model.isStarting(job.id)}
      isFileMissing={job => model.fileMissing(job)}
      onTogglePause={job => void model.setPaused(job.id, !job.paused)}
      onEdit={job => void model.showEditForm(job.id)}
      onDuplicate={job => model.showDuplicateForm(job.id)}
      onShowRuns={job => model.showRuns(job.id)}
      onOpenLog={onOpenLog}
      onRegenerate={job => void model.regenerateCode(job.id)}
      onRunWith={job => void model.runWith(job.id)}
      onBackfill={job => void model.backfill(job.id)}
      onDelete={async job => {
        if (await model.confirmDeleteJob(job)) {
          await model.deleteJob(job.id);
        }
      }}
    />
  );
}

/** The runs; the jobs too, for the filter's job names. */
function RunsPane({
  model,
  trans,
  onOpenLog
}: PartProps & { onOpenLog: (runId: number) => void }): JSX.Element {
  useSignalRerender(model.runsStore.runsChanged);
  useSignalRerender(model.jobsStore.jobsChanged);
  return (
    <RunList
      runs={model.runs}
      jobs={model.jobs}
      filter={model.runsFilter}
      hasMore={model.hasMoreRuns}
      isLoading={model.runsLoading}
      trans={trans}
      isStopping={runId => model.isStopping(runId)}
      onCancelRun={run => void model.cancelRun(run.id)}
      onRerun={run => void model.rerun(run.id)}
      onDownloadNotebook={run =>
        model.downloadNotebook(run).catch(error => model.showError(error))
      }
      onFilter={filter => model.setRunsFilter(filter)}
      onLoadMore={() => void model.loadMoreRuns()}
      onRefresh={() => void model.refreshRuns()}
      onOpenLog={onOpenLog}
      onDeleteRun={async run => {
        if (await model.confirmDeleteRun(run)) {
          await model.deleteRun(run.id);
        }
      }}
      onClearAll={async () => {
        const job = model.runsFilter.jobId
          ? model.job(model.runsFilter.jobId)
          : undefined;
        const isConfirmed = await confirm(
          trans.__('Clear run history'),
          job
            ? trans.__('Delete the run history of "%1" and its logs?', job.name)
            : trans.__('Delete the run history of every job, and the logs?'),
          trans.__('Clear'),
          trans
        );
        if (isConfirmed) {
          await model.clearRuns();
        }
      }}
    />
  );
}
