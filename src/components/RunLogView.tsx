import type { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { LogStream } from '../model';
import { formatAbsolute, formatDuration } from '../time';
import { StatusBadge, triggerLabel } from './StatusBadge';
import { useSignalRerender } from './useSignal';

export interface RunLogViewProps {
  stream: LogStream;
  trans: TranslationBundle;
  onDelete: () => void;
  onCancel: () => void;
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
          {!stream.isFinished && (
            <Button
              type="button"
              small
              minimal
              onClick={props.onCancel}
              data-action="cancel-run"
            >
              {trans.__('Stop this run')}
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
        <div className="jp-scheduler-logMessage">{run.message}</div>
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
