import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, closeIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Job, JobDetail as JobDetailAnswer } from '../api';
import { canBackfill } from '../components/OrchestrationDialogs';
import { StatusBadge, triggerLabel } from '../components/StatusBadge';
import { useSignalRerender } from '../components/useSignal';
import { formatAbsolute, formatDuration, formatRelative } from '../time';
import { CodeDiff } from './CodeDiff';
import { DurationChart, successRate } from './DurationChart';
import { BackfillSection } from './BackfillSection';
import { JobHistory } from './JobHistory';
import { TriggerGraph, triggerChain } from './TriggerGraph';
import { WebhookSection } from './WebhookSection';
import type { SchedulerViewModel } from './viewModel';

export interface JobDetailProps {
  viewModel: SchedulerViewModel;
  jobs: ReadonlyArray<Job>;
  trans: TranslationBundle;
  onClose: () => void;
  onOpenJob: (jobId: string) => void;
  onOpenLog: (runId: number) => void;
}

export function Definition(props: {
  job: JobDetailAnswer;
  trans: TranslationBundle;
}): JSX.Element {
  const { job, trans } = props;
  const rows: [string, React.ReactNode][] = [
    [trans.__('File'), <code key="f">{job.pipeline_path}</code>],
    [trans.__('Schedule'), job.schedule_description],
    [trans.__('Time zone'), job.timezone],
    [trans.__('State'), job.paused ? trans.__('paused') : trans.__('active')]
  ];
  const optional: [string, unknown][] = [
    [
      trans.__('Timeout'),
      job.timeout_seconds ? formatDuration(job.timeout_seconds) : null
    ],
    [
      trans.__('Retries'),
      job.max_retries
        ? trans.__(
            '%1, %2 apart',
            job.max_retries,
            formatDuration(job.retry_delay_seconds ?? 0)
          )
        : null
    ],
    [trans.__('Concurrent runs'), job.max_instances ?? null],
    [trans.__('Catch-up'), job.catchup ?? null],
    [
      trans.__('Misfire grace'),
      job.misfire_grace_time ? formatDuration(job.misfire_grace_time) : null
    ],
    [
      trans.__('Deadline'),
      job.deadline_time
        ? trans.__(
            'succeeded by %1 (%2) each day',
            job.deadline_time,
            job.timezone
          )
        : null
    ],
    [
      trans.__('Max duration'),
      job.max_duration_minutes
        ? formatDuration(job.max_duration_minutes * 60)
        : null
    ],
    [
      trans.__('Alerts on'),
      job.alert_on ? job.alert_on.join(', ') || trans.__('nothing') : null
    ],
    [trans.__('Alert e-mails'), job.alert_emails?.join(', ') || null],
    [trans.__('Working folder'), job.working_dir ?? null],
    [trans.__('Kernel'), job.kernel_name ?? null],
    [trans.__('Environment'), job.env ? Object.keys(job.env).join(', ') : null],
    [
      trans.__('Secrets'),
      job.secret_env_keys.length ? job.secret_env_keys.join(', ') : null
    ],
    [
      trans.__('Parameters'),
      job.parameters ? Object.keys(job.parameters).join(', ') : null
    ],
    [trans.__('Description'), job.description ?? null]
  ];
  for (const [label, value] of optional) {
    if (value !== null && value !== undefined && value !== '') {
      rows.push([label, String(value)]);
    }
  }
  return (
    <dl
      className="jp-PipelineScheduler-definition"
      data-testid="job-definition"
    >
      {rows.map(([label, value]) => (
        <React.Fragment key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </React.Fragment>
      ))}
    </dl>
  );
}

/** The selected job: definition, next fire times, history, trigger chain, code. */
export function JobDetail(props: JobDetailProps): JSX.Element | null {
  const { viewModel, trans } = props;
  useSignalRerender(viewModel.detailChanged);
  const [backfillsVersion, setBackfillsVersion] = React.useState(0);
  const detail = viewModel.detail;
  if (!detail) {
    return null;
  }
  const job = detail.job;
  const listed = props.jobs.find(j => j.id === detail.jobId);
  const rate = successRate(detail.runs);
  const code = viewModel.codeComparison;
  const isAmpln = !!job && job.pipeline_path.toLowerCase().endsWith('.ampln');
  const startBackfill = async (jobId: string) => {
    if (await viewModel.model.backfill(jobId)) {
      setBackfillsVersion(v => v + 1);
    }
  };

  return (
    <aside
      className="jp-PipelineScheduler-detail"
      aria-label={trans.__('Job detail')}
      data-job-id={detail.jobId}
    >
      <header className="jp-PipelineScheduler-detailHeader">
        <h2>{job?.name ?? listed?.name ?? detail.jobId}</h2>
        <Button
          type="button"
          minimal
          small
          aria-label={trans.__('Close the job detail')}
          title={trans.__('Close')}
          onClick={props.onClose}
        >
          <closeIcon.react tag="span" elementSize="normal" />
        </Button>
      </header>
      {detail.error && (
        <div className="jp-PipelineScheduler-error" role="alert">
          {detail.error}
        </div>
      )}
      {detail.isLoading && !job && (
        <p className="jp-PipelineScheduler-muted">{trans.__('Loading…')}</p>
      )}
      {job && (
        <>
          <section>
            <h3>{trans.__('Definition')}</h3>
            <Definition job={job} trans={trans} />
            <div
              className="jp-PipelineScheduler-detailActions"
              data-testid="detail-actions"
            >
              <Button
                type="button"
                small
                data-action="run-with"
                onClick={() => void viewModel.model.runWith(job.id)}
              >
                {trans.__('Run with…')}
              </Button>
              {canBackfill(job) && (
                <Button
                  type="button"
                  small
                  data-action="backfill"
                  onClick={() => void startBackfill(job.id)}
                >
                  {trans.__('Backfill…')}
                </Button>
              )}
            </div>
          </section>

          <section>
            <h3>
              {trans.__('Next fire times')}
              {detail.nextRuns?.paused && (
                <span className="jp-PipelineScheduler-muted">
                  {' '}
                  {trans.__('(if resumed)')}
                </span>
              )}
            </h3>
            {detail.nextRuns && detail.nextRuns.next_run_times.length ? (
              <ol
                className="jp-PipelineScheduler-fireTimes"
                data-testid="next-fire-times"
              >
                {detail.nextRuns.next_run_times.map(t => (
                  <li key={t}>
                    <time dateTime={t}>
                      {formatAbsolute(t, undefined, undefined, true)}
                    </time>
                    <span className="jp-PipelineScheduler-muted">
                      {' '}
                      {formatRelative(t)}
                    </span>
                  </li>
                ))}
              </ol>
            ) : (
              <p className="jp-PipelineScheduler-muted">
                {job.schedule_type === 'trigger'
                  ? trans.__('It runs when its trigger conditions are met.')
                  : job.schedule_type === 'file'
                    ? trans.__(
                        'It runs when files matching %1 arrive.',
                        job.watch_path ?? ''
                      )
                    : trans.__('No fire time ahead.')}
              </p>
            )}
          </section>

          <section>
            <h3>
              {trans.__('Run history')}
              <span
                className="jp-PipelineScheduler-rate"
                data-testid="success-rate"
              >
                {rate === null
                  ? trans.__('no finished run')
                  : trans.__(
                      '%1% success over %2 runs',
                      Math.round(rate * 100),
                      detail.runs.length
                    )}
              </span>
            </h3>
            <DurationChart
              runs={detail.runs}
              trans={trans}
              onOpenLog={props.onOpenLog}
            />
            <ul
              className="jp-PipelineScheduler-history"
              data-testid="run-history"
            >
              {detail.runs.slice(0, 12).map(run => (
                <li key={run.id}>
                  <button
                    type="button"
                    className="jp-PipelineScheduler-linkButton"
                    data-run-id={run.id}
                    onClick={() => props.onOpenLog(run.id)}
                    title={trans.__('Open the log of run %1', run.id)}
                  >
                    #{run.id}
                  </button>
                  <StatusBadge status={run.status} trans={trans} />
                  <span>
                    {formatAbsolute(run.started_at ?? run.created_at)}
                  </span>
                  <span className="jp-PipelineScheduler-muted">
                    {formatDuration(run.duration_seconds)} ·{' '}
                    {triggerLabel(trans, run.triggered_by)}
                    {run.job_version
                      ? ` · ${trans.__('version %1', run.job_version)}`
                      : ''}
                  </span>
                </li>
              ))}
            </ul>
          </section>

          {canBackfill(job) && (
            <section data-testid="backfill-section">
              <h3>{trans.__('Backfills')}</h3>
              <BackfillSection
                jobId={job.id}
                timeZone={job.timezone}
                trans={trans}
                version={backfillsVersion}
              />
            </section>
          )}

          <section data-testid="history-section">
            <h3>{trans.__('History')}</h3>
            <JobHistory
              versions={detail.versions}
              currentVersion={job.version}
              trans={trans}
              onRestore={version =>
                void viewModel.restoreVersion(version, trans)
              }
            />
          </section>

          <WebhookSection
            enabled={!!job.webhook_enabled}
            trans={trans}
            onEnable={() => void viewModel.enableWebhook(trans)}
            onDisable={() => void viewModel.disableWebhook(trans)}
          />

          <section>
            <h3>{trans.__('Trigger chain')}</h3>
            <TriggerGraph
              job={job}
              chain={triggerChain(job, props.jobs)}
              trans={trans}
              onOpenJob={props.onOpenJob}
            />
          </section>

          {isAmpln && (
            <section data-testid="code-section">
              <h3>{trans.__('Generated code')}</h3>
              {job.pipeline_changed && (
                <p className="jp-PipelineScheduler-warning">
                  {trans.__(
                    'The pipeline changed since this code was generated.'
                  )}
                </p>
              )}
              {code.kind === 'idle' && (
                <Button
                  type="button"
                  small
                  data-action="compare-code"
                  onClick={() => void viewModel.compareCode()}
                >
                  {trans.__('Compare with the pipeline now')}
                </Button>
              )}
              {code.kind === 'loading' && (
                <p className="jp-PipelineScheduler-muted">
                  {trans.__('Generating…')}
                </p>
              )}
              {code.kind === 'unavailable' && (
                <p
                  className="jp-PipelineScheduler-warning"
                  data-testid="code-unavailable"
                >
                  {code.message}
                </p>
              )}
              {code.kind === 'ready' && (
                <CodeDiff
                  stored={code.stored}
                  current={code.current}
                  trans={trans}
                />
              )}
              {code.kind !== 'ready' && (
                <pre
                  className="jp-PipelineScheduler-code"
                  data-testid="stored-code"
                >
                  {job.python_code ?? ''}
                </pre>
              )}
            </section>
          )}
        </>
      )}
    </aside>
  );
}
