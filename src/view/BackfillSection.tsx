/**
 * A job's backfills in its detail: each one's range, status and progress (its
 * runs by status, the fire times left), with Cancel while it is active. It
 * reads `GET jobs/{id}/backfills` itself, every 2 s while one is active, so
 * the progress moves without the rest of the detail being read again.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { api as defaultApi, Backfill } from '../api';
import { errorMessage } from '../ask';
import { statusLabel } from '../components/StatusBadge';
import { formatAbsolute } from '../time';

export interface BackfillsAPI {
  listBackfills: (jobId: string) => Promise<{ backfills: Backfill[] }>;
  cancelBackfill: (backfillId: number) => Promise<Backfill>;
}

const ACTIVE_POLL_MS = 2000;

function isActive(backfill: Backfill): boolean {
  return backfill.status === 'queued' || backfill.status === 'running';
}

/** "3 success, 1 running, 2 to start". */
export function backfillProgress(
  backfill: Backfill,
  trans: TranslationBundle
): string {
  const parts = Object.entries(backfill.counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${n} ${statusLabel(trans, status)}`);
  if (backfill.pending) {
    parts.push(trans.__('%1 to start', backfill.pending));
  }
  return parts.length ? parts.join(', ') : trans.__('no run yet');
}

function statusText(backfill: Backfill, trans: TranslationBundle): string {
  switch (backfill.status) {
    case 'queued':
      return trans.__('queued');
    case 'running':
      return trans.__('running');
    case 'done':
      return trans.__('done');
    default:
      return trans.__('cancelled');
  }
}

export function BackfillSection(props: {
  jobId: string;
  timeZone: string;
  trans: TranslationBundle;
  /** Changes when a backfill was started here: read them again. */
  version: number;
  api?: BackfillsAPI;
}): JSX.Element {
  const { jobId, trans } = props;
  const client = props.api ?? defaultApi;
  const [backfills, setBackfills] = React.useState<Backfill[]>([]);
  const [error, setError] = React.useState<string | null>(null);
  const [tick, setTick] = React.useState(0);

  React.useEffect(() => {
    let isCurrent = true;
    client.listBackfills(jobId).then(
      answer => {
        if (isCurrent) {
          setBackfills(answer.backfills);
          setError(null);
        }
      },
      reason => isCurrent && setError(errorMessage(reason))
    );
    return () => {
      isCurrent = false;
    };
  }, [client, jobId, props.version, tick]);

  const anyActive = backfills.some(isActive);
  React.useEffect(() => {
    if (!anyActive) {
      return;
    }
    const timer = window.setTimeout(() => setTick(t => t + 1), ACTIVE_POLL_MS);
    return () => window.clearTimeout(timer);
  }, [anyActive, tick]);

  const cancel = async (backfill: Backfill) => {
    try {
      await client.cancelBackfill(backfill.id);
    } catch (reason) {
      setError(errorMessage(reason));
    }
    setTick(t => t + 1);
  };

  if (!backfills.length && !error) {
    return (
      <p className="jp-PipelineScheduler-muted" data-testid="no-backfills">
        {trans.__('No backfill yet.')}
      </p>
    );
  }
  return (
    <>
      {error && (
        <div className="jp-PipelineScheduler-error" role="alert">
          {error}
        </div>
      )}
      <ul className="jp-PipelineScheduler-backfills" data-testid="backfills">
        {backfills.slice(0, 10).map(backfill => (
          <li
            key={backfill.id}
            data-backfill-id={backfill.id}
            data-status={backfill.status}
          >
            <span className="jp-PipelineScheduler-backfillRange">
              {trans.__(
                '%1 to %2',
                formatAbsolute(backfill.start, undefined, props.timeZone),
                formatAbsolute(backfill.end, undefined, props.timeZone)
              )}
            </span>
            <span className="jp-PipelineScheduler-muted">
              {' · '}
              {statusText(backfill, trans)}
              {' · '}
              {trans.__('%1 fire time(s)', backfill.total)}
            </span>
            <div
              className="jp-PipelineScheduler-backfillProgress"
              data-testid="backfill-progress"
            >
              {backfillProgress(backfill, trans)}
              {backfill.message && !isActive(backfill)
                ? ` · ${backfill.message}`
                : ''}
            </div>
            {isActive(backfill) && (
              <Button
                type="button"
                small
                minimal
                className="jp-scheduler-dangerText"
                data-action="cancel-backfill"
                onClick={() => void cancel(backfill)}
              >
                {trans.__('Cancel')}
              </Button>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}
