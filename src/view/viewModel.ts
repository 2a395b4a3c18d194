/**
 * State of the main-area Scheduler view: run strips (fetched for the rows in
 * view only, batched and cached), the selected job's detail, and the runs
 * timeline. Jobs themselves come from the SchedulerModel (one job list for
 * the sidebar and the view); this model only adds what the view shows beyond.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import type { IDisposable } from '@lumino/disposable';

import {
  api as defaultApi,
  type CompactRun,
  type Job,
  type JobDetail,
  type JobNextRuns,
  type JobVersion,
  type Run,
  type RunTimeline,
  type SchedulerAPI
} from '../api';
import { askWithDialog, type AskFunction } from '../ask';
import { errorMessage, type SchedulerModel } from '../model';
import { formatAbsolute } from '../time';
import {
  showWebhookTokenDialog,
  type ShowWebhookToken
} from './WebhookSection';

/** Runs per strip. */
export const STRIP_LENGTH = 20;
/** Job ids per `runs/recent` request (the server takes up to 200). */
const STRIP_BATCH = 100;
/** Wait this long for more rows to come into view before fetching. */
const STRIP_DEBOUNCE_MS = 60;

/** What identifies a job's run history: a new run or outcome changes it. */
function historyKey(job: Job): string {
  return `${job.last_run?.id ?? ''}:${job.last_run?.status ?? ''}:${job.active_run?.id ?? ''}:${job.active_run?.status ?? ''}`;
}

export interface JobDetailState {
  jobId: string;
  job: JobDetail | null;
  nextRuns: JobNextRuns | null;
  runs: Run[];
  /** The job's versions, newest first (job history). */
  versions: JobVersion[];
  error: string | null;
  isLoading: boolean;
}

/** The code diff of an .ampln job: stored snapshot against a fresh generation. */
export type CodeComparison =
  | { kind: 'idle' }
  | { kind: 'loading' }
  | { kind: 'ready'; stored: string; current: string }
  | { kind: 'unavailable'; message: string };

export interface TimelineRange {
  since: Date;
  until: Date;
  /** Follows now (a preset like "last 24 hours") or a fixed chosen range. */
  isLive: boolean;
}

export interface SchedulerViewModelOptions {
  model: SchedulerModel;
  api?: SchedulerAPI;
  /** How often the jobs (and what is shown) refresh while the view is visible. */
  pollIntervalSeconds?: number;
  /** Asks before a restore (a JupyterLab dialog by default; tests replace it). */
  ask?: AskFunction;
  /** Shows a new webhook URL once (a JupyterLab dialog by default; tests replace it). */
  showWebhookToken?: ShowWebhookToken;
}

export class SchedulerViewModel implements IDisposable {
  constructor(options: SchedulerViewModelOptions) {
    this.model = options.model;
    this._api = options.api ?? defaultApi;
    this._ask = options.ask ?? askWithDialog;
    this._showWebhookToken = options.showWebhookToken ?? showWebhookTokenDialog;
    const ms = Math.max(2, options.pollIntervalSeconds ?? 10) * 1000;
    this._poll = new Poll({
      factory: () => this.refresh(),
      frequency: { interval: ms, backoff: false, max: ms },
      standby: () => !this._isVisible || document.hidden,
      name: 'pipeline-scheduler:view'
    });
    this.model.jobsStore.jobsChanged.connect(this._onJobsChanged, this);
  }

  readonly model: SchedulerModel;

  /* ---------------------------- signals ---------------------------- */

  /** New run strips arrived. */
  get stripsChanged(): ISignal<this, void> {
    return this._stripsChanged;
  }
  /** The selected job or its detail changed. */
  get detailChanged(): ISignal<this, void> {
    return this._detailChanged;
  }
  get timelineChanged(): ISignal<this, void> {
    return this._timelineChanged;
  }

  /* ----------------------------- strips ---------------------------- */

  /** The job's newest runs, newest first; undefined until fetched. */
  strip(jobId: string): ReadonlyArray<CompactRun> | undefined {
    return this._strips.get(jobId)?.runs;
  }

  /**
   * The rows now in view: fetch the strips not cached (or out of date),
   * after a short pause so a fast scroll asks once for where it stops.
   */
  requestStrips(jobs: ReadonlyArray<Job>): void {
    for (const job of jobs) {
      const cached = this._strips.get(job.id);
      if (!cached || cached.key !== historyKey(job)) {
        this._wanted.set(job.id, historyKey(job));
      }
    }
    if (this._wanted.size && this._stripTimer === null) {
      this._stripTimer = window.setTimeout(() => {
        this._stripTimer = null;
        void this._fetchStrips();
      }, STRIP_DEBOUNCE_MS);
    }
  }

  private async _fetchStrips(): Promise<void> {
    const wanted = [...this._wanted].filter(([id]) => !this._inFlight.has(id));
    this._wanted.clear();
    for (let start = 0; start < wanted.length; start += STRIP_BATCH) {
      const batch = wanted.slice(start, start + STRIP_BATCH);
      batch.forEach(([id]) => this._inFlight.add(id));
      try {
        const { runs_by_job } = await this._api.recentRuns(
          batch.map(([id]) => id),
          STRIP_LENGTH
        );
        for (const [id, key] of batch) {
          this._strips.set(id, { key, runs: runs_by_job[id] ?? [] });
        }
        this._stripsChanged.emit();
      } catch (error) {
        this.model.showError(error);
      } finally {
        batch.forEach(([id]) => this._inFlight.delete(id));
      }
    }
  }

  /* ------------------------------ detail ----------------------------- */

  get detail(): JobDetailState | null {
    return this._detail;
  }
  get codeComparison(): CodeComparison {
    return this._code;
  }

  /** Show a job's detail (null: close it). */
  select(jobId: string | null): void {
    if (jobId === (this._detail?.jobId ?? null)) {
      return;
    }
    this._code = { kind: 'idle' };
    this._detail = jobId
      ? {
          jobId,
          job: null,
          nextRuns: null,
          runs: [],
          versions: [],
          error: null,
          isLoading: true
        }
      : null;
    this._detailChanged.emit();
    if (jobId) {
      void this._loadDetail(jobId);
    }
  }

  private async _loadDetail(jobId: string): Promise<void> {
    try {
      const [job, nextRuns, page, versions] = await Promise.all([
        this._api.getJob(jobId),
        this._api.jobNextRuns(jobId, 10),
        this._api.listRuns({ job_id: jobId, limit: 100 }),
        this._api.listJobVersions(jobId)
      ]);
      if (this._detail?.jobId !== jobId) {
        return;
      }
      this._detail = {
        jobId,
        job,
        nextRuns,
        runs: page.runs,
        versions: versions.versions,
        error: null,
        isLoading: false
      };
      this._detailKey = historyKey(job);
    } catch (error) {
      if (this._detail?.jobId !== jobId) {
        return;
      }
      this._detail = {
        ...this._detail,
        error: errorMessage(error),
        isLoading: false
      };
    }
    this._detailChanged.emit();
  }

  /**
   * Compare an .ampln job's stored code with what its pipeline generates now
   * (Amphi ETL's own generator, when installed).
   */
  async compareCode(): Promise<void> {
    const job = this._detail?.job;
    if (!job) {
      return;
    }
    this._code = { kind: 'loading' };
    this._detailChanged.emit();
    try {
      const current = await this.model.generatePipelineCode(job.pipeline_path);
      this._code = { kind: 'ready', stored: job.python_code ?? '', current };
    } catch (error) {
      this._code = { kind: 'unavailable', message: errorMessage(error) };
    }
    this._detailChanged.emit();
  }

  /**
   * Make the open job's definition what one of its versions was, after asking
   * (recorded by the server as a new version). Answers whether it was restored.
   */
  async restoreVersion(
    version: number,
    trans: TranslationBundle
  ): Promise<boolean> {
    const detail = this._detail;
    const job = detail?.job;
    const chosen = detail?.versions.find(v => v.version === version);
    if (!detail || !job || !chosen) {
      return false;
    }
    const by = chosen.author
      ? trans.__('by %1', chosen.author)
      : trans.__('by an unknown author');
    const confirmed = await this._confirm(
      trans,
      trans.__('Restore version %1?', version),
      trans.__(
        "'%1' gets back the definition of version %2 (%3, %4), recorded as a new version. Its secret values and paused state stay as they are now.",
        job.name,
        version,
        formatAbsolute(chosen.created_at),
        by
      ),
      trans.__('Restore'),
      'restore'
    );
    if (!confirmed) {
      return false;
    }
    return (
      (await this._changeJob(job.id, () =>
        this._api.restoreJobVersion(job.id, version)
      )) !== null
    );
  }

  /* ----------------------------- webhook ------------------------------ */

  /**
   * Enable the shown job's webhook, or rotate its token (after asking: the
   * old URL stops working), and show the new URL once.
   */
  async enableWebhook(trans: TranslationBundle): Promise<boolean> {
    const job = this._detail?.job;
    if (!job) {
      return false;
    }
    if (
      job.webhook_enabled &&
      !(await this._confirm(
        trans,
        trans.__('Rotate the webhook token?'),
        trans.__(
          "The URL that starts '%1' now stops working at once; callers need the new one.",
          job.name
        ),
        trans.__('Rotate'),
        'rotate'
      ))
    ) {
      return false;
    }
    const token = await this._changeJob(job.id, () =>
      this._api.enableWebhook(job.id)
    );
    if (token === null) {
      return false;
    }
    await this._showWebhookToken(token, trans);
    return true;
  }

  /** Disable the shown job's webhook (after asking). */
  async disableWebhook(trans: TranslationBundle): Promise<boolean> {
    const job = this._detail?.job;
    if (!job) {
      return false;
    }
    const confirmed = await this._confirm(
      trans,
      trans.__('Disable the webhook?'),
      trans.__(
        "Calls of the webhook URL of '%1' will be refused. Enabling it again makes a new URL.",
        job.name
      ),
      trans.__('Disable'),
      'disable'
    );
    if (!confirmed) {
      return false;
    }
    return (
      (await this._changeJob(job.id, () =>
        this._api.disableWebhook(job.id)
      )) !== null
    );
  }

  /** Ask before a change that cannot be undone: Cancel, or the warning button. */
  private async _confirm(
    trans: TranslationBundle,
    title: string,
    body: string,
    label: string,
    value: string
  ): Promise<boolean> {
    const answer = await this._ask({
      title,
      body,
      buttons: [
        { label: trans.__('Cancel'), value: 'cancel', isCancel: true },
        { label, value, isWarn: true }
      ]
    });
    return answer === value;
  }

  /**
   * Make a change to a job on the server, then show its detail and the job
   * list again; answers what the server answered, or null (the error shown).
   */
  private async _changeJob<T>(
    jobId: string,
    change: () => Promise<T>
  ): Promise<T | null> {
    let answer: T;
    try {
      answer = await change();
    } catch (error) {
      this.model.showError(error);
      return null;
    }
    await this._loadDetail(jobId);
    await this.model.refreshJobs();
    return answer;
  }

  /* ----------------------------- timeline ----------------------------- */

  get timeline(): RunTimeline | null {
    return this._timeline;
  }
  get timelineRange(): TimelineRange {
    return this._range;
  }
  /** Counts the ranges chosen (a preset or From/To), not the refreshes of a live one. */
  get timelineChoice(): number {
    return this._rangeChoice;
  }
  get timelineError(): string | null {
    return this._timelineError;
  }
  get isTimelineShown(): boolean {
    return this._isTimelineShown;
  }

  setTimelineShown(isShown: boolean): void {
    this._isTimelineShown = isShown;
    if (isShown) {
      void this.refreshTimeline();
    }
  }

  /** The last `hours` hours, following now. */
  setTimelineWindow(hours: number): void {
    const until = new Date();
    this._range = {
      since: new Date(until.getTime() - hours * 3600_000),
      until,
      isLive: true
    };
    this._liveHours = hours;
    this._rangeChoice++;
    void this.refreshTimeline();
  }

  /** A fixed range chosen by the person. */
  setTimelineRange(since: Date, until: Date): void {
    this._range = { since, until, isLive: false };
    this._rangeChoice++;
    void this.refreshTimeline();
  }

  async refreshTimeline(): Promise<void> {
    if (this._range.isLive) {
      const until = new Date();
      this._range = {
        since: new Date(until.getTime() - this._liveHours * 3600_000),
        until,
        isLive: true
      };
    }
    try {
      this._timeline = await this._api.runsTimeline(
        this._range.since.toISOString(),
        this._range.until.toISOString(),
        5000
      );
      this._timelineError = null;
    } catch (error) {
      this._timelineError = errorMessage(error);
    }
    this._timelineChanged.emit();
  }

  /* ----------------------------- refresh ----------------------------- */

  setVisible(isVisible: boolean): void {
    if (this._isVisible === isVisible) {
      return;
    }
    this._isVisible = isVisible;
    if (isVisible) {
      void this._poll.refresh();
    }
  }

  /** Jobs (through the shared model), the open detail and the timeline. */
  async refresh(): Promise<void> {
    await this.model.refreshJobs();
    if (this._isTimelineShown) {
      await this.refreshTimeline();
    }
  }

  /** Pause, resume or delete several jobs; answers how many failed. */
  async bulk(
    action: 'pause' | 'resume' | 'delete',
    jobIds: ReadonlyArray<string>
  ): Promise<number> {
    let failed = 0;
    for (const jobId of jobIds) {
      try {
        if (action === 'delete') {
          await this._api.deleteJob(jobId);
        } else if (action === 'pause') {
          await this._api.pauseJob(jobId);
        } else {
          await this._api.resumeJob(jobId);
        }
      } catch (error) {
        failed++;
        this.model.showError(error);
      }
    }
    if (
      action === 'delete' &&
      this._detail &&
      jobIds.includes(this._detail.jobId)
    ) {
      this.select(null);
    }
    await this.model.refreshJobs();
    return failed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    if (this._stripTimer !== null) {
      clearTimeout(this._stripTimer);
    }
    this.model.jobsStore.jobsChanged.disconnect(this._onJobsChanged, this);
    Signal.clearData(this);
  }

  /** A job of the open detail ran or changed: load its detail again. */
  private _onJobsChanged(): void {
    const detail = this._detail;
    if (!detail || detail.isLoading) {
      return;
    }
    const job = this.model.job(detail.jobId);
    if (!job) {
      return;
    }
    const key = historyKey(job);
    if (key !== this._detailKey || job.updated_at !== detail.job?.updated_at) {
      this._detailKey = key;
      void this._loadDetail(detail.jobId);
    }
  }

  private _api: SchedulerAPI;
  private _ask: AskFunction;
  private _showWebhookToken: ShowWebhookToken;
  private _poll: Poll;
  private _isVisible = false;
  private _isDisposed = false;
  private _strips = new Map<string, { key: string; runs: CompactRun[] }>();
  private _wanted = new Map<string, string>();
  private _inFlight = new Set<string>();
  private _stripTimer: number | null = null;
  private _detail: JobDetailState | null = null;
  private _detailKey = '';
  private _code: CodeComparison = { kind: 'idle' };
  private _timeline: RunTimeline | null = null;
  private _timelineError: string | null = null;
  private _isTimelineShown = false;
  private _liveHours = 24;
  private _rangeChoice = 0;
  private _range: TimelineRange = {
    since: new Date(Date.now() - 24 * 3600_000),
    until: new Date(),
    isLive: true
  };
  private _stripsChanged = new Signal<this, void>(this);
  private _detailChanged = new Signal<this, void>(this);
  private _timelineChanged = new Signal<this, void>(this);
}
