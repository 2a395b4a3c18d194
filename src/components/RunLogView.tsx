import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, downloadIcon, stopIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { isActiveStatus } from '../api';
import type { Job, Run } from '../api';
import type { LogStream } from '../model';
import { errorMessage } from '../model';
import { formatAbsolute, formatDuration } from '../time';
import { RunMarkers } from './RunList';
import { StatusBadge, triggerLabel } from './StatusBadge';
import { useSignalRerender } from './useSignal';

export interface RunLogViewProps {
  stream: LogStream;
  trans: TranslationBundle;
  /** The run's job, when it still exists (for "attempt 2 of 3"). */
  job: (jobId: string) => Job | undefined;
  onDelete: () => void;
  /** Resolves once the server has stopped the run. */
  onCancel: () => Promise<unknown>;
  onDownloadNotebook: (run: Run) => Promise<void>;
}

/** Distance from the bottom, in pixels, that still counts as "at the end". */
const FOLLOW_SLACK_PX = 24;

/**
 * One run's log, live while it runs. It scrolls to the end as lines come in,
 * until the person scrolls up; scrolling back to the end resumes following.
 */
export function RunLogView(props: RunLogViewProps): JSX.Element {
  const { stream, trans } = props;
  useSignalRerender(stream.changed);
  const logRef = React.useRef<HTMLPreElement>(null);
  const [isFollowing, setIsFollowing] = React.useState(true);
  const [isStopping, setIsStopping] = React.useState(false);
  const [actionError, setActionError] = React.useState<string | null>(null);

  React.useLayoutEffect(() => {
    const node = logRef.current;
    if (node && isFollowing) {
      node.scrollTop = node.scrollHeight;
    }
  });

  const onScroll = () => {
    const node = logRef.current;
    if (!node) {
      return;
    }
    const distance = node.scrollHeight - node.scrollTop - node.clientHeight;
    setIsFollowing(distance <= FOLLOW_SLACK_PX);
  };

  const run = stream.run;
  const isActive = !stream.isFinished && (!run || isActiveStatus(run.status));

  const stop = () => {
    setIsStopping(true);
    props.onCancel().finally(() => setIsStopping(false));
  };

  const download = () => {
    if (!run) {
      return;
    }
    setActionError(null);
    props
      .onDownloadNotebook(run)
      .catch(error => setActionError(errorMessage(error)));
  };

  return (
    <div
      className="jp-scheduler-log"
      data-run-id={stream.runId}
      data-finished={stream.isFinished ? 'true' : 'false'}
    >
      <div className="jp-scheduler-logHeader">
        <div className="jp-scheduler-logTitle">
          {run && <StatusBadge status={run.status} trans={trans} />}
          <strong>
            {run ? run.job_name : trans.__('Run %1', stream.runId)}
          </strong>
          <span className="jp-scheduler-muted">#{stream.runId}</span>
          {run && (
            <RunMarkers run={run} job={props.job(run.job_id)} trans={trans} />
          )}
        </div>
        {run && (
          <div className="jp-scheduler-logMeta jp-scheduler-muted">
            <span>{run.pipeline_path}</span>
            <span>{triggerLabel(trans, run.triggered_by)}</span>
            {run.started_at && (
              <span>
                {trans.__(
                  'started %1',
                  formatAbsolute(run.started_at, undefined, undefined, true)
                )}
              </span>
            )}
            {run.duration_seconds !== null && (
              <span>
                {trans.__('took %1', formatDuration(run.duration_seconds))}
              </span>
            )}
            {run.exit_code !== null && (
              <span>{trans.__('exit code %1', run.exit_code)}</span>
            )}
          </div>
        )}
        <div className="jp-scheduler-logActions">
          {!stream.isFinished && (
            <span className="jp-scheduler-muted" aria-live="polite">
              {isFollowing
                ? trans.__('Streaming…')
                : trans.__('Streaming (scrolled up: not following)')}
            </span>
          )}
          {isActive && (
            <Button
              type="button"
              small
              minimal
              onClick={stop}
              disabled={isStopping}
              data-action="cancel-run"
            >
              <stopIcon.react tag="span" elementSize="normal" />
              {isStopping
                ? trans.__('Stopping…')
                : run?.status === 'queued'
                  ? trans.__('Cancel this run')
                  : trans.__('Stop this run')}
            </Button>
          )}
          {run?.has_notebook && (
            <Button
              type="button"
              small
              minimal
              onClick={download}
              data-action="download-notebook"
            >
              <downloadIcon.react tag="span" elementSize="normal" />
              {trans.__('Download executed notebook')}
            </Button>
          )}
          <Button
            type="button"
            small
            minimal
            className="jp-scheduler-dangerText"
            onClick={props.onDelete}
            disabled={!stream.isFinished}
            data-action="delete-run"
          >
            {trans.__('Delete this run')}
          </Button>
        </div>
      </div>
      {run?.message && (
        <div
          className="jp-scheduler-logMessage"
          data-testid="run-message"
          data-status={run.status}
        >
          {run.message}
        </div>
      )}
      {run?.pipeline_changed && (
        <div className="jp-scheduler-logMessage">
          {trans.__(
            'The pipeline file had changed after its code was generated: this run used the stored code. Regenerate it from the job in the Scheduler.'
          )}
        </div>
      )}
      {actionError && (
        <div className="jp-scheduler-formError" role="alert">
          {actionError}
        </div>
      )}
      {stream.error && (
        <div className="jp-scheduler-formError" role="alert">
          {stream.error}
        </div>
      )}
      {stream.isTrimmed && (
        <div className="jp-scheduler-muted">
          {trans.__(
            'Earlier output is not shown here; the whole log is kept on the server.'
          )}
        </div>
      )}
      {run?.log_truncated && (
        <div className="jp-scheduler-muted">
          {trans.__(
            'This log reached its size limit and was cut by the server.'
          )}
        </div>
      )}
      <pre
        ref={logRef}
        className="jp-scheduler-logText"
        tabIndex={0}
        aria-label={trans.__('Log of run %1', stream.runId)}
        onScroll={onScroll}
      >
        {stream.text ||
          (stream.isFinished
            ? trans.__('(no output)')
            : trans.__('Waiting for output…'))}
      </pre>
    </div>
  );
}
