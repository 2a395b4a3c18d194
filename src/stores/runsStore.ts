/**
 * The run history as the sidebar lists it (filter, pages), the runs stopped
 * or deleted from this page, and the runs started here, watched until they
 * end.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';

import { isActiveStatus, Run, SchedulerAPI, SchedulerAPIError } from '../api';
import type { AskFunction } from '../ask';
import { saveFile } from '../download';
import { LogStream } from '../logStream';
import type { Notices } from '../sidebarState';

export const RUNS_PAGE_SIZE = 50;
const WATCH_INTERVAL_MS = 1000;

export interface RunsFilter {
  jobId: string;
  status: string;
}

export interface RunsStoreOptions {
  api: SchedulerAPI;
  trans: TranslationBundle;
  ask: AskFunction;
  notices: Notices;
  /** A stop was answered: the jobs' active runs changed. */
  onRunStopped: () => void;
  /** Watched runs ended: what shows them is loaded again. */
  onWatchedRunsEnded: () => Promise<void>;
}

export class RunsStore {
  constructor(options: RunsStoreOptions) {
    this._api = options.api;
    this._trans = options.trans;
    this._ask = options.ask;
    this._notices = options.notices;
    this._onRunStopped = options.onRunStopped;
    this._onWatchedRunsEnded = options.onWatchedRunsEnded;
  }

  /* ---------------------------- signals ---------------------------- */

  /** The listed runs, the filter, loading or stopping changed. */
  get runsChanged(): ISignal<this, void> {
    return this._runsChanged;
  }

  /** A run started from this UI has ended (any final status). */
  get runFinished(): ISignal<this, Run> {
    return this._runFinished;
  }

  /** Runs were deleted from this page: one run's id, or null for many. */
  get runsDeleted(): ISignal<this, number | null> {
    return this._runsDeleted;
  }

  /* ----------------------------- state ----------------------------- */

  get runs(): ReadonlyArray<Run> {
    return this._runs;
  }
  get filter(): RunsFilter {
    return this._filter;
  }
  get hasMore(): boolean {
    return this._cursor !== null;
  }
  get isLoading(): boolean {
    return this._isLoading;
  }
  /** Run ids started from this UI and not finished yet. */
  isWatched(runId: number): boolean {
    return this._watched.has(runId);
  }
  /** A stop was asked for this run and the server has not confirmed it yet. */
  isStopping(runId: number): boolean {
    return this._stopping.has(runId);
  }

  /* ---------------------------- loading ---------------------------- */

  setFilter(filter: Partial<RunsFilter>): void {
    this._filter = { ...this._filter, ...filter };
    void this.refresh(true);
  }

  /** Set the filter's job without loading (the list is loaded next). */
  filterJob(jobId: string): void {
    this._filter = { ...this._filter, jobId };
  }

  /** A deleted job's runs are gone: stop filtering on it. */
  forgetJob(jobId: string): void {
    if (this._filter.jobId === jobId) {
      this._filter = { ...this._filter, jobId: '' };
      this._runsChanged.emit();
    }
  }

  /**
   * Reload the runs from the newest; keeps as many as were loaded so that a
   * poll does not undo "Load more".
   */
  async refresh(reset = false): Promise<void> {
    const limit = reset
      ? RUNS_PAGE_SIZE
      : Math.min(1000, Math.max(RUNS_PAGE_SIZE, this._runs.length));
    const request = ++this._request;
    this._isLoading = true;
    this._runsChanged.emit();
    try {
      const page = await this._api.listRuns({
        job_id: this._filter.jobId || undefined,
        status: this._filter.status || undefined,
        limit
      });
      if (request === this._request) {
        this._runs = page.runs;
        this._cursor = page.next_cursor;
      }
    } catch (error) {
      this._notices.showError(error);
    } finally {
      if (request === this._request) {
        this._isLoading = false;
      }
      this._runsChanged.emit();
    }
  }

  async loadMore(): Promise<void> {
    if (this._cursor === null) {
      return;
    }
    const request = ++this._request;
    this._isLoading = true;
    this._runsChanged.emit();
    try {
      const page = await this._api.listRuns({
        job_id: this._filter.jobId || undefined,
        status: this._filter.status || undefined,
        limit: RUNS_PAGE_SIZE,
        before: this._cursor
      });
      if (request === this._request) {
        const known = new Set(this._runs.map(r => r.id));
        this._runs = [
          ...this._runs,
          ...page.runs.filter(r => !known.has(r.id))
        ];
        this._cursor = page.next_cursor;
      }
    } catch (error) {
      this._notices.showError(error);
    } finally {
      if (request === this._request) {
        this._isLoading = false;
      }
      this._runsChanged.emit();
    }
  }

  /* ---------------------------- actions ---------------------------- */

  /** Ask before deleting one run: every place that offers it calls this. */
  async confirmDelete(run: Run | number): Promise<boolean> {
    const runId = typeof run === 'number' ? run : run.id;
    const known =
      typeof run === 'number' ? this._runs.find(r => r.id === run) : run;
    const answer = await this._ask({
      title: this._trans.__('Delete run'),
      body: known?.job_name
        ? this._trans.__(
            'Delete run %1 of "%2" and its log? This cannot be undone.',
            runId,
            known.job_name
          )
        : this._trans.__(
            'Delete run %1 and its log? This cannot be undone.',
            runId
          ),
      buttons: [
        { label: this._trans.__('Cancel'), value: 'cancel', isCancel: true },
        { label: this._trans.__('Delete'), value: 'delete', isWarn: true }
      ]
    });
    return answer === 'delete';
  }

  async delete(runId: number): Promise<boolean> {
    try {
      await this._api.deleteRun(runId);
      this._runs = this._runs.filter(r => r.id !== runId);
      this._runsChanged.emit();
      this._runsDeleted.emit(runId);
      return true;
    } catch (error) {
      this._notices.showError(error);
      return false;
    }
  }

  /** Delete the history: of the filtered job, or all of it. */
  async clear(): Promise<void> {
    try {
      const { deleted } = await this._api.clearRuns(
        this._filter.jobId || undefined
      );
      this._notices.showInfo(
        this._trans._n('%1 run deleted.', '%1 runs deleted.', deleted)
      );
      this._runsDeleted.emit(null);
      await this.refresh(true);
    } catch (error) {
      this._notices.showError(error);
    }
  }

  /**
   * Ask the server to stop a queued or running run. The server answers once
   * the run's processes are gone (after SIGTERM, or SIGKILL after its grace).
   */
  async cancel(runId: number): Promise<Run | null> {
    if (this._stopping.has(runId)) {
      return null;
    }
    this._stopping.add(runId);
    this._runsChanged.emit();
    try {
      const run = await this._api.cancelRun(runId);
      this._runs = this._runs.map(r =>
        r.id === run.id ? { ...r, ...run } : r
      );
      return run;
    } catch (error) {
      if (error instanceof SchedulerAPIError && error.status === 409) {
        // It ended by itself meanwhile: show how.
        void this.refresh();
      } else {
        this._notices.showError(error);
      }
      return null;
    } finally {
      this._stopping.delete(runId);
      this._runsChanged.emit();
      this._onRunStopped();
    }
  }

  /**
   * Download the executed notebook of a notebook run (a browser download).
   * Throws the server's error, for the view that asked to show it.
   */
  async downloadNotebook(run: Run): Promise<void> {
    const file = await this._api.getRunNotebook(run.id, run.pipeline_path);
    saveFile(file.name, file.blob);
  }

  /** A live view of one run's log; dispose it when the view closes. */
  openLog(runId: number): LogStream {
    return new LogStream(this._api, runId);
  }

  /* ---------------------------- watching --------------------------- */

  /** A run started from this UI: listed at once, and watched until it ends. */
  addStarted(run: Run): void {
    if (this._matchesFilter(run)) {
      this._runs = [run, ...this._runs.filter(r => r.id !== run.id)];
    }
    this._watch(run);
    this._runsChanged.emit();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    if (this._watchTimer !== null) {
      clearTimeout(this._watchTimer);
      this._watchTimer = null;
    }
    Signal.clearData(this);
  }

  private _matchesFilter(run: Run): boolean {
    const { jobId, status } = this._filter;
    return (
      (!jobId || run.job_id === jobId) && (!status || run.status === status)
    );
  }

  private _watch(run: Run): void {
    if (!isActiveStatus(run.status)) {
      // Finished before the answer came back.
      this._runFinished.emit(run);
      return;
    }
    this._watched.add(run.id);
    this._scheduleWatch();
  }

  private _scheduleWatch(): void {
    if (
      this._isDisposed ||
      this._watchTimer !== null ||
      this._watched.size === 0
    ) {
      return;
    }
    this._watchTimer = window.setTimeout(async () => {
      this._watchTimer = null;
      await this._checkWatched();
      this._scheduleWatch();
    }, WATCH_INTERVAL_MS);
  }

  private async _checkWatched(): Promise<void> {
    let anyEnded = false;
    for (const runId of Array.from(this._watched)) {
      let run: Run;
      try {
        run = await this._api.getRun(runId);
      } catch (error) {
        if (error instanceof SchedulerAPIError && error.status === 404) {
          this._watched.delete(runId);
        }
        continue;
      }
      this._runs = this._runs.map(r =>
        r.id === run.id ? { ...r, ...run } : r
      );
      if (!isActiveStatus(run.status)) {
        this._watched.delete(runId);
        anyEnded = true;
        this._runFinished.emit(run);
      }
    }
    this._runsChanged.emit();
    if (anyEnded) {
      await this._onWatchedRunsEnded();
    }
  }

  private _api: SchedulerAPI;
  private _trans: TranslationBundle;
  private _ask: AskFunction;
  private _notices: Notices;
  private _onRunStopped: () => void;
  private _onWatchedRunsEnded: () => Promise<void>;
  private _isDisposed = false;
  private _runs: Run[] = [];
  private _cursor: number | null = null;
  private _filter: RunsFilter = { jobId: '', status: '' };
  private _isLoading = false;
  private _request = 0;
  private _watched = new Set<number>();
  private _stopping = new Set<number>();
  private _watchTimer: number | null = null;
  private _runFinished = new Signal<this, Run>(this);
  private _runsDeleted = new Signal<this, number | null>(this);
  private _runsChanged = new Signal<this, void>(this);
}
