import type { TranslationBundle } from '@jupyterlab/translation';
import {
  Button,
  caretDownIcon,
  caretUpIcon,
  downloadIcon,
  redoIcon,
  stopIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { isActiveStatus } from '../api';
import type { Job, Run } from '../api';
import type { LogStream, TextRange } from '../logStream';
import { errorMessage } from '../model';
import { formatDuration, formatTimestamp } from '../time';
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
  /** Run this (finished) run again: its logical time and overrides. */
  onRerun?: () => void;
}

/** Distance from the bottom, in pixels, that still counts as "at the end". */
const FOLLOW_SLACK_PX = 24;
/** Matches highlighted at most (the count says when there are more). */
const MAX_MATCHES = 5000;

/** Where `query` occurs in `text`, ignoring case. */
export function findMatches(
  text: string,
  query: string,
  limit = MAX_MATCHES
): TextRange[] {
  if (!query) {
    return [];
  }
  const haystack = text.toLowerCase();
  const needle = query.toLowerCase();
  const found: TextRange[] = [];
  let at = haystack.indexOf(needle);
  while (at !== -1 && found.length < limit) {
    found.push([at, at + needle.length]);
    at = haystack.indexOf(needle, at + needle.length);
  }
  return found;
}

/**
 * The log text cut into pieces: stderr parts in their own style, search
 * matches highlighted (the current one marked).
 */
function renderLog(
  text: string,
  stderr: ReadonlyArray<TextRange>,
  matches: ReadonlyArray<TextRange>,
  current: number
): React.ReactNode[] {
  if (!stderr.length && !matches.length) {
    return [text];
  }
  const cuts = new Set<number>([0, text.length]);
  for (const [a, b] of stderr) {
    cuts.add(Math.min(a, text.length));
    cuts.add(Math.min(b, text.length));
  }
  for (const [a, b] of matches) {
    cuts.add(a);
    cuts.add(b);
  }
  const points = Array.from(cuts).sort((x, y) => x - y);
  const nodes: React.ReactNode[] = [];
  let s = 0;
  let m = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    const from = points[i];
    const to = points[i + 1];
    if (to <= from) {
      continue;
    }
    while (s < stderr.length && stderr[s][1] <= from) {
      s++;
    }
    while (m < matches.length && matches[m][1] <= from) {
      m++;
    }
    const isStderr = s < stderr.length && stderr[s][0] <= from;
    const isMatch = m < matches.length && matches[m][0] <= from;
    const piece = text.slice(from, to);
    if (isMatch) {
      const classes = ['jp-scheduler-logMatch'];
      if (m === current) {
        classes.push('jp-mod-current');
      }
      if (isStderr) {
        classes.push('jp-scheduler-logStderr');
      }
      nodes.push(
        <mark key={from} className={classes.join(' ')} data-match={m}>
          {piece}
        </mark>
      );
    } else if (isStderr) {
      nodes.push(
        <span key={from} className="jp-scheduler-logStderr">
          {piece}
        </span>
      );
    } else {
      nodes.push(piece);
    }
  }
  return nodes;
}

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
  const [isWrapped, setIsWrapped] = React.useState(true);
  const [query, setQuery] = React.useState('');
  const [current, setCurrent] = React.useState(0);

  const text = stream.text;
  const matches = React.useMemo(() => findMatches(text, query), [text, query]);
  const shownMatch = matches.length
    ? Math.min(current, matches.length - 1)
    : -1;
  const pieces = React.useMemo(
    () => renderLog(text, stream.stderrRanges, matches, shownMatch),
    [text, stream.stderrRanges, matches, shownMatch]
  );

  React.useLayoutEffect(() => {
    const node = logRef.current;
    if (node && isFollowing && !query) {
      node.scrollTop = node.scrollHeight;
    }
  });

  // Bring the current match into view when it changes.
  React.useEffect(() => {
    const node = logRef.current;
    const mark = node?.querySelector('mark.jp-mod-current');
    if (node && mark) {
      const box = mark.getBoundingClientRect();
      const frame = node.getBoundingClientRect();
      if (box.top < frame.top || box.bottom > frame.bottom) {
        node.scrollTop += box.top - frame.top - node.clientHeight / 2;
      }
    }
  }, [shownMatch, query]);

  const step = (delta: number) => {
    if (matches.length) {
      setIsFollowing(false);
      setCurrent((shownMatch + delta + matches.length) % matches.length);
    }
  };

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

  const downloadLog = () => {
    setActionError(null);
    try {
      stream.download();
    } catch (error) {
      setActionError(errorMessage(error));
    }
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
      data-deleted={stream.isDeleted ? 'true' : undefined}
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
            {run.job_version ? (
              <span data-testid="run-job-version">
                {trans.__('version %1', run.job_version)}
              </span>
            ) : null}
            {run.backend === 'ray' && (
              <span data-testid="run-backend">
                {run.ray_submission_id
                  ? trans.__('on Ray, job %1', run.ray_submission_id)
                  : trans.__('on Ray')}
              </span>
            )}
            {run.started_at && (
              <span>
                {trans.__('started %1', formatTimestamp(run.started_at))}
              </span>
            )}
            {run.finished_at && (
              <span>
                {trans.__('ended %1', formatTimestamp(run.finished_at))}
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
          <Button
            type="button"
            small
            minimal
            onClick={downloadLog}
            disabled={stream.isDeleted}
            data-action="download-log"
            title={trans.__('Download the whole log of run %1', stream.runId)}
          >
            <downloadIcon.react tag="span" elementSize="normal" />
            {trans.__('Download log')}
          </Button>
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
          {props.onRerun && stream.isFinished && !stream.isDeleted && (
            <Button
              type="button"
              small
              minimal
              onClick={props.onRerun}
              data-action="rerun"
              title={trans.__(
                'Run it again, with the same logical time and overrides'
              )}
            >
              <redoIcon.react tag="span" elementSize="normal" />
              {trans.__('Re-run')}
            </Button>
          )}
          <Button
            type="button"
            small
            minimal
            className="jp-scheduler-dangerText"
            onClick={props.onDelete}
            disabled={!stream.isFinished || stream.isDeleted}
            data-action="delete-run"
          >
            {trans.__('Delete this run')}
          </Button>
        </div>
      </div>
      {stream.isDeleted && (
        <div
          className="jp-scheduler-logMessage"
          role="status"
          data-testid="run-deleted"
        >
          {trans.__(
            'This run was deleted; what is shown is what was read before.'
          )}
        </div>
      )}
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
      <div className="jp-scheduler-logTools" role="toolbar">
        <input
          type="search"
          className="jp-mod-styled jp-scheduler-input jp-scheduler-logSearch"
          placeholder={trans.__('Find in log')}
          aria-label={trans.__('Find in log')}
          value={query}
          onChange={e => {
            setQuery(e.currentTarget.value);
            setCurrent(0);
            if (e.currentTarget.value) {
              setIsFollowing(false);
            }
          }}
          onKeyDown={e => {
            if (e.key === 'Enter') {
              e.preventDefault();
              step(e.shiftKey ? -1 : 1);
            } else if (e.key === 'Escape') {
              setQuery('');
            }
          }}
        />
        <span
          className="jp-scheduler-muted jp-scheduler-matchCount"
          data-testid="match-count"
          aria-live="polite"
        >
          {query
            ? matches.length
              ? trans.__(
                  '%1 of %2%3',
                  shownMatch + 1,
                  matches.length,
                  matches.length >= MAX_MATCHES ? '+' : ''
                )
              : trans.__('no match')
            : ''}
        </span>
        <button
          type="button"
          className="jp-scheduler-iconButton"
          title={trans.__('Previous match (Shift+Enter)')}
          aria-label={trans.__('Previous match')}
          data-action="previous-match"
          disabled={!matches.length}
          onClick={() => step(-1)}
        >
          <caretUpIcon.react tag="span" elementSize="normal" />
        </button>
        <button
          type="button"
          className="jp-scheduler-iconButton"
          title={trans.__('Next match (Enter)')}
          aria-label={trans.__('Next match')}
          data-action="next-match"
          disabled={!matches.length}
          onClick={() => step(1)}
        >
          <caretDownIcon.react tag="span" elementSize="normal" />
        </button>
        <label className="jp-scheduler-logWrap">
          <input
            type="checkbox"
            checked={isWrapped}
            data-action="wrap"
            onChange={e => setIsWrapped(e.currentTarget.checked)}
          />
          {trans.__('Wrap lines')}
        </label>
        {stream.stderrRanges.length > 0 && (
          <span className="jp-scheduler-logLegend jp-scheduler-muted">
            <span className="jp-scheduler-logStderr">{trans.__('stderr')}</span>
          </span>
        )}
      </div>
      <pre
        ref={logRef}
        className={`jp-scheduler-logText${isWrapped ? '' : ' jp-mod-nowrap'}`}
        tabIndex={0}
        aria-label={trans.__('Log of run %1', stream.runId)}
        onScroll={onScroll}
      >
        {text
          ? pieces
          : stream.isFinished
            ? trans.__('(no output)')
            : trans.__('Waiting for output…')}
      </pre>
    </div>
  );
}
