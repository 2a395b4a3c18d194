import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

/** Translated names of run statuses and triggers. */
export function statusLabel(trans: TranslationBundle, status: string): string {
  switch (status) {
    case 'queued':
      return trans.__('queued');
    case 'running':
      return trans.__('running');
    case 'success':
      return trans.__('success');
    case 'failure':
      return trans.__('failure');
    case 'cancelled':
      return trans.__('cancelled');
    case 'timeout':
      return trans.__('timed out');
    case 'interrupted':
      return trans.__('interrupted');
    case 'skipped':
      return trans.__('skipped');
    default:
      return status;
  }
}

export function triggerLabel(trans: TranslationBundle, by: string): string {
  switch (by) {
    case 'schedule':
      return trans.__('scheduled');
    case 'manual':
      return trans.__('manual');
    case 'trigger':
      return trans.__('after another job');
    case 'catchup':
      return trans.__('catch-up');
    case 'retry':
      return trans.__('retry');
    case 'backfill':
      return trans.__('backfill');
    case 'rerun':
      return trans.__('re-run');
    case 'file':
      return trans.__('files arrived');
    case 'webhook':
      return trans.__('webhook');
    default:
      return by;
  }
}

/**
 * "attempt 2 of 3" for a retry (the total is known from the job's
 * max_retries), "attempt 2" when the job is gone; nothing for a first attempt.
 */
export function attemptLabel(
  trans: TranslationBundle,
  attempt: number | undefined,
  maxRetries?: number | null
): string | null {
  if (!attempt || attempt <= 1) {
    return null;
  }
  const total = (maxRetries ?? 0) + 1;
  return total >= attempt
    ? trans.__('attempt %1 of %2', attempt, total)
    : trans.__('attempt %1', attempt);
}

export interface StatusBadgeProps {
  status: string;
  trans: TranslationBundle;
}

/** A run status as a small coloured label (colour is never the only cue). */
export function StatusBadge(props: StatusBadgeProps): JSX.Element {
  return (
    <span
      className={`jp-scheduler-status jp-scheduler-status-${props.status}`}
      data-status={props.status}
    >
      {statusLabel(props.trans, props.status)}
    </span>
  );
}
