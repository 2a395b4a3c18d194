/**
 * Run outcomes while JupyterLab is open: every run that ends on the server
 * (scheduled, triggered, retried or started anywhere) comes through one
 * cursor feed (`GET runs/finished?after=`); failures raise a notification with
 * "Open log" and count on the Scheduler's sidebar tab until it is opened.
 * Runs started from this page also tell their success.
 */
import { Notification } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import type { Title, Widget } from '@lumino/widgets';

import type { Run, SchedulerAPI } from './api';
import type { SchedulerModel } from './model';

/** Statuses that call for attention. */
export const FAILED_STATUSES: ReadonlyArray<string> = [
  'failure',
  'timeout',
  'interrupted'
];
/** More failures than this in one poll become one summary notification. */
const MAX_TOASTS_PER_POLL = 3;
const FEED_PAGE = 200;

/**
 * The runs that end on the server, in the order they end. It starts at the
 * server's cursor now, so opening JupyterLab does not replay old outcomes.
 */
export class FinishedRunsFeed implements IDisposable {
  constructor(
    private _api: SchedulerAPI,
    intervalSeconds = 10
  ) {
    const ms = Math.max(2, intervalSeconds) * 1000;
    this._poll = new Poll({
      factory: () => this.check(),
      frequency: { interval: ms, backoff: true, max: 10 * ms },
      standby: 'when-hidden',
      name: 'pipeline-scheduler:finished-runs'
    });
  }

  /** Runs that ended since the last check, oldest end first. */
  get runsFinished(): ISignal<this, ReadonlyArray<Run>> {
    return this._runsFinished;
  }
  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  setInterval(seconds: number): void {
    const ms = Math.max(2, Math.min(3600, seconds)) * 1000;
    this._poll.frequency = { interval: ms, backoff: true, max: 10 * ms };
  }

  /** Look for new outcomes now (also what each poll does). */
  async check(): Promise<void> {
    if (this._checking) {
      return this._checking;
    }
    this._checking = this._check().finally(() => {
      this._checking = null;
    });
    return this._checking;
  }

  private async _check(): Promise<void> {
    if (this._cursor === null) {
      this._cursor = (await this._api.listFinishedRuns()).cursor;
      return;
    }
    const found: Run[] = [];
    for (;;) {
      const page = await this._api.listFinishedRuns(this._cursor, FEED_PAGE);
      this._cursor = page.cursor;
      found.push(...page.runs);
      if (page.runs.length < FEED_PAGE) {
        break;
      }
    }
    if (found.length && !this.isDisposed) {
      this._runsFinished.emit(found);
    }
  }

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  private _poll: Poll;
  private _cursor: number | null = null;
  private _checking: Promise<void> | null = null;
  private _runsFinished = new Signal<this, ReadonlyArray<Run>>(this);
}

/** The count of unseen failures, shown on a sidebar tab (its title). */
export class FailureBadge {
  constructor(
    private _title: Title<Widget>,
    private _trans: TranslationBundle
  ) {
    this._caption = _title.caption;
  }

  get count(): number {
    return this._count;
  }

  add(n: number): void {
    this._count += n;
    this._render();
  }

  clear(): void {
    if (this._count) {
      this._count = 0;
      this._render();
    }
  }

  private _render(): void {
    const title = this._title;
    const rest = { ...title.dataset };
    delete rest.failures;
    title.dataset = this._count
      ? { ...rest, failures: String(this._count) }
      : rest;
    title.className = this._count ? 'jp-scheduler-hasFailures' : '';
    title.caption = this._count
      ? this._trans._n(
          '%2 (%1 failed run)',
          '%2 (%1 failed runs)',
          this._count,
          this._caption
        )
      : this._caption;
  }

  private _count = 0;
  private _caption: string;
}

export interface RunOutcomeOptions {
  model: SchedulerModel;
  feed: FinishedRunsFeed;
  badge: FailureBadge;
  trans: TranslationBundle;
  openLog: (runId: number) => void;
  /** Whether the person is looking at the Scheduler now (then no badge). */
  isSchedulerVisible: () => boolean;
  showRuns: () => void;
}

function origin(trans: TranslationBundle, run: Run): string {
  switch (run.triggered_by) {
    case 'schedule':
    case 'catchup':
      return trans.__('Scheduled run');
    case 'trigger':
      return trans.__('Triggered run');
    case 'retry':
      return trans.__('Retry');
    default:
      return trans.__('Run');
  }
}

/** Wire the feed and the model's own runs to notifications and the badge. */
export function notifyRunOutcomes(options: RunOutcomeOptions): void {
  const { model, feed, badge, trans, openLog } = options;
  // Each outcome is told once, whichever of the two sources sees it first.
  const told = new Set<number>();
  const remember = (runId: number) => {
    told.add(runId);
    if (told.size > 2000) {
      told.delete(told.values().next().value as number);
    }
  };
  const logAction = (run: Run): Notification.IAction => ({
    label: trans.__('Open log'),
    caption: trans.__('Open the log of run %1', run.id),
    callback: () => openLog(run.id)
  });

  const tellFailure = (run: Run) => {
    Notification.error(
      trans.__(
        '%1 of "%2" ended with status %3 (run %4).',
        origin(trans, run),
        run.job_name,
        run.status,
        run.id
      ) + (run.message ? ` ${run.message}` : ''),
      { autoClose: false, actions: [logAction(run)] }
    );
  };

  model.runsStore.runFinished.connect((_, run: Run) => {
    if (told.has(run.id)) {
      return;
    }
    remember(run.id);
    const actions = [logAction(run)];
    if (run.status === 'success') {
      Notification.success(
        trans.__('"%1" finished successfully (run %2).', run.job_name, run.id),
        { autoClose: 6000, actions }
      );
    } else if (run.status === 'cancelled' || run.status === 'skipped') {
      Notification.info(
        trans.__(
          '"%1" ended with status %2 (run %3).',
          run.job_name,
          run.status,
          run.id
        ),
        { autoClose: 6000, actions }
      );
    } else {
      Notification.error(
        trans.__(
          '"%1" ended with status %2 (run %3).',
          run.job_name,
          run.status,
          run.id
        ),
        { autoClose: false, actions }
      );
    }
  });

  feed.runsFinished.connect((_, runs) => {
    const failed = runs.filter(r => FAILED_STATUSES.includes(r.status));
    if (!failed.length) {
      return;
    }
    if (!options.isSchedulerVisible()) {
      badge.add(failed.length);
    }
    const fresh = failed.filter(
      r => !told.has(r.id) && !model.runsStore.isWatched(r.id)
    );
    fresh.forEach(r => remember(r.id));
    if (fresh.length > MAX_TOASTS_PER_POLL) {
      Notification.error(
        trans._n('%1 run failed.', '%1 runs failed.', fresh.length),
        {
          autoClose: false,
          actions: [
            {
              label: trans.__('Show runs'),
              callback: () => options.showRuns()
            },
            logAction(fresh[fresh.length - 1])
          ]
        }
      );
    } else {
      fresh.forEach(tellFailure);
    }
  });
}
