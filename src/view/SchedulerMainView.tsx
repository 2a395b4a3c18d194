import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import {
  Button,
  closeIcon,
  refreshIcon,
  searchIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { useSignalRerender } from '../components/useSignal';
import {
  EMPTY_QUERY,
  filterJobs,
  type FileKind,
  type JobQuery,
  type JobState,
  searchKeys,
  sortJobs,
  type SortKey
} from './jobFilter';
import { JobDetail } from './JobDetail';
import { JobsTable } from './JobsTable';
import { Timeline } from './Timeline';
import type { SchedulerViewModel } from './viewModel';

export interface SchedulerMainViewProps {
  viewModel: SchedulerViewModel;
  trans: TranslationBundle;
  onOpenLog: (runId: number) => void;
}

type Tab = 'jobs' | 'timeline';

async function confirmBulk(
  trans: TranslationBundle,
  action: 'pause' | 'resume' | 'delete',
  names: string[]
): Promise<boolean> {
  const listed =
    names.slice(0, 8).join(', ') +
    (names.length > 8 ? trans.__(', and %1 more', names.length - 8) : '');
  const titles = {
    pause: trans._n('Pause %1 job', 'Pause %1 jobs', names.length),
    resume: trans._n('Resume %1 job', 'Resume %1 jobs', names.length),
    delete: trans._n('Delete %1 job', 'Delete %1 jobs', names.length)
  };
  const bodies = {
    pause: trans.__(
      'These jobs stop firing until you resume them: %1.',
      listed
    ),
    resume: trans.__('These jobs fire on their schedules again: %1.', listed),
    delete: trans.__(
      'Delete these jobs and their run history and logs? A job other jobs wait for is kept. %1.',
      listed
    )
  };
  const labels = {
    pause: trans.__('Pause'),
    resume: trans.__('Resume'),
    delete: trans.__('Delete')
  };
  const result = await showDialog({
    title: titles[action],
    body: bodies[action],
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      action === 'delete'
        ? Dialog.warnButton({ label: labels[action] })
        : Dialog.okButton({ label: labels[action] })
    ]
  });
  return result.button.accept;
}

/** The main-area Scheduler: jobs table with detail, and the runs timeline. */
export function SchedulerMainView(props: SchedulerMainViewProps): JSX.Element {
  const { viewModel, trans } = props;
  const model = viewModel.model;
  useSignalRerender(model.jobsStore.jobsChanged);
  useSignalRerender(model.sidebar.bannerChanged);
  useSignalRerender(viewModel.detailChanged);
  const [tab, setTab] = React.useState<Tab>('jobs');
  const [query, setQuery] = React.useState<JobQuery>(EMPTY_QUERY);
  const [selected, setSelected] = React.useState<ReadonlySet<string>>(
    new Set()
  );
  const [isBusy, setBusy] = React.useState(false);

  const jobs = model.jobs;
  const keys = React.useMemo(() => searchKeys(jobs), [jobs]);
  const sorted = React.useMemo(
    () => sortJobs(jobs, query.sort, query.isDescending),
    [jobs, query.sort, query.isDescending]
  );
  const shown = React.useMemo(
    () => filterJobs(sorted, keys, query),
    [sorted, keys, query]
  );

  // Selections of deleted jobs go away with them.
  React.useEffect(() => {
    if (!selected.size) {
      return;
    }
    const known = new Set(jobs.map(j => j.id));
    if ([...selected].some(id => !known.has(id))) {
      setSelected(new Set([...selected].filter(id => known.has(id))));
    }
  }, [jobs, selected]);

  const toggleState = (state: JobState) => {
    const states = new Set(query.states);
    if (states.has(state)) {
      states.delete(state);
    } else {
      states.add(state);
    }
    setQuery({ ...query, states });
  };
  const sortBy = (key: SortKey) =>
    setQuery({
      ...query,
      sort: key,
      isDescending: query.sort === key ? !query.isDescending : false
    });

  const runBulk = async (action: 'pause' | 'resume' | 'delete') => {
    const ids = [...selected];
    const names = ids.map(id => model.job(id)?.name ?? id);
    if (!ids.length || !(await confirmBulk(trans, action, names))) {
      return;
    }
    setBusy(true);
    try {
      await viewModel.bulk(action, ids);
      if (action === 'delete') {
        setSelected(new Set());
      }
    } finally {
      setBusy(false);
    }
  };

  const states: [JobState, string][] = [
    ['running', trans.__('Running')],
    ['failing', trans.__('Failing')],
    ['paused', trans.__('Paused')],
    ['never', trans.__('Never ran')]
  ];
  const openJob = (jobId: string) => {
    setTab('jobs');
    viewModel.setTimelineShown(false);
    viewModel.select(jobId);
  };
  const detailJobId = viewModel.detail?.jobId ?? null;

  return (
    <div className="jp-PipelineScheduler-view">
      <div className="jp-PipelineScheduler-viewHeader">
        <h1>{trans.__('Scheduler')}</h1>
        <div className="jp-PipelineScheduler-tabs" role="tablist">
          {(['jobs', 'timeline'] as Tab[]).map(t => (
            <button
              key={t}
              type="button"
              role="tab"
              data-tab={t}
              aria-selected={tab === t}
              className={`jp-PipelineScheduler-tab${tab === t ? ' jp-mod-current' : ''}`}
              onClick={() => {
                setTab(t);
                viewModel.setTimelineShown(t === 'timeline');
              }}
            >
              {t === 'jobs' ? trans.__('Jobs') : trans.__('Runs timeline')}
            </button>
          ))}
        </div>
        <span className="jp-PipelineScheduler-count" data-testid="job-count">
          {shown.length === jobs.length
            ? trans._n('%1 job', '%1 jobs', jobs.length)
            : trans.__('%1 of %2 jobs', shown.length, jobs.length)}
        </span>
        <Button
          type="button"
          small
          minimal
          data-action="refresh-view"
          title={trans.__('Refresh')}
          aria-label={trans.__('Refresh')}
          onClick={() => void viewModel.refresh()}
        >
          <refreshIcon.react tag="span" elementSize="normal" />
        </Button>
      </div>
      {model.banner && (
        <div
          className={`jp-PipelineScheduler-banner jp-mod-${model.banner.kind}`}
          role={model.banner.kind === 'error' ? 'alert' : 'status'}
        >
          <span>{model.banner.text}</span>
          <Button
            type="button"
            small
            minimal
            aria-label={trans.__('Dismiss')}
            onClick={() => model.dismissBanner()}
          >
            <closeIcon.react tag="span" elementSize="normal" />
          </Button>
        </div>
      )}

      {tab === 'jobs' && (
        <div className="jp-PipelineScheduler-jobsPane">
          <div className="jp-PipelineScheduler-tableColumn">
            <div
              className="jp-PipelineScheduler-toolbar"
              role="toolbar"
              aria-label={trans.__('Search and filters')}
            >
              <label className="jp-PipelineScheduler-search">
                <searchIcon.react tag="span" elementSize="normal" />
                <input
                  type="search"
                  aria-label="Search jobs"
                  placeholder={trans.__('Search by name or file')}
                  value={query.text}
                  onChange={event =>
                    setQuery({ ...query, text: event.currentTarget.value })
                  }
                />
              </label>
              {states.map(([state, label]) => (
                <Button
                  key={state}
                  type="button"
                  small
                  minimal={!query.states.has(state)}
                  aria-pressed={query.states.has(state)}
                  data-filter={state}
                  onClick={() => toggleState(state)}
                >
                  {label}
                </Button>
              ))}
              <select
                aria-label={trans.__('File type')}
                className="jp-PipelineScheduler-select"
                data-filter="file-kind"
                value={query.fileKind}
                onChange={event =>
                  setQuery({
                    ...query,
                    fileKind: event.currentTarget.value as FileKind | ''
                  })
                }
              >
                <option value="">{trans.__('All files')}</option>
                <option value=".py">.py</option>
                <option value=".ampln">.ampln</option>
                <option value=".ipynb">.ipynb</option>
              </select>
              <span className="jp-PipelineScheduler-spacer" />
              {selected.size > 0 && (
                <span
                  className="jp-PipelineScheduler-bulk"
                  data-testid="bulk-actions"
                >
                  <span>
                    {trans._n('%1 selected', '%1 selected', selected.size)}
                  </span>
                  <Button
                    type="button"
                    small
                    disabled={isBusy}
                    data-action="bulk-pause"
                    onClick={() => void runBulk('pause')}
                  >
                    {trans.__('Pause')}
                  </Button>
                  <Button
                    type="button"
                    small
                    disabled={isBusy}
                    data-action="bulk-resume"
                    onClick={() => void runBulk('resume')}
                  >
                    {trans.__('Resume')}
                  </Button>
                  <Button
                    type="button"
                    small
                    disabled={isBusy}
                    className="jp-mod-styled jp-mod-warn"
                    data-action="bulk-delete"
                    onClick={() => void runBulk('delete')}
                  >
                    {trans.__('Delete')}
                  </Button>
                  <Button
                    type="button"
                    small
                    minimal
                    onClick={() => setSelected(new Set())}
                  >
                    {trans.__('Clear selection')}
                  </Button>
                </span>
              )}
            </div>
            <JobsTable
              jobs={shown}
              totalCount={jobs.length}
              viewModel={viewModel}
              trans={trans}
              sort={query.sort}
              isDescending={query.isDescending}
              selected={selected}
              currentJobId={detailJobId}
              isCompact={!!detailJobId}
              onSort={sortBy}
              onToggleSelected={jobId => {
                const next = new Set(selected);
                if (next.has(jobId)) {
                  next.delete(jobId);
                } else {
                  next.add(jobId);
                }
                setSelected(next);
              }}
              onSelectAll={isSelected =>
                setSelected(
                  isSelected ? new Set(shown.map(j => j.id)) : new Set()
                )
              }
              onOpenJob={jobId => viewModel.select(jobId)}
              onOpenLog={props.onOpenLog}
            />
          </div>
          {detailJobId && (
            <JobDetail
              viewModel={viewModel}
              jobs={jobs}
              trans={trans}
              onClose={() => viewModel.select(null)}
              onOpenJob={openJob}
              onOpenLog={props.onOpenLog}
            />
          )}
        </div>
      )}
      {tab === 'timeline' && (
        <Timeline
          viewModel={viewModel}
          jobs={jobs}
          trans={trans}
          onOpenLog={props.onOpenLog}
          onOpenJob={openJob}
        />
      )}
    </div>
  );
}
