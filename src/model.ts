/**
 * SchedulerModel: the composition root of the scheduler's frontend state.
 * It owns the parts, each with its own signal, and wires what one part's
 * change means for another:
 *
 * - `jobsStore` (`jobsChanged`): the job list and what is done to jobs;
 * - `runsStore` (`runsChanged`, `runFinished`, `runsDeleted`): the run
 *   history, its filter and pages, runs watched until they end;
 * - `configStore` (`configChanged`): the server's config;
 * - `sidebar` (`viewChanged`, `bannerChanged`): the sidebar's view, banner
 *   and form draft;
 * - `files` (`missingChanged`): folder listings, jobs' files gone;
 * - `amphi`: Amphi ETL's code generation for .ampln pipelines.
 *
 * It also polls, and keeps the methods that span parts (opening a view,
 * saving the form, deleting a job). Its other methods delegate to the parts.
 * Components subscribe to the signal of the part they show; they never
 * fetch. All server calls go through `api.ts`.
 */
import type { Contents, KernelSpec } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { CommandRegistry } from '@lumino/commands';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';

import {
  api as defaultApi,
  Backfill,
  Job,
  Run,
  SchedulerAPI,
  SchedulePreview
} from './api';
import { AmphiCode } from './amphi';
import { AskFunction, askWithDialog } from './ask';
import { DirectoryEntry, WorkspaceFiles } from './files';
import {
  showBackfillDialog,
  showRunWithDialog
} from './components/OrchestrationDialogs';
import { buildJobSpec, buildScheduleSpec } from './form/convert';
import { JobSpec } from './form/spec';
import {
  defaultFormState,
  FormState,
  jobToFormState,
  SCHEDULE_SPEC_FIELDS,
  scheduleKey,
  withoutStoredSecrets
} from './form/state';
import { LogStream } from './logStream';
import { Banner, FormMode, SidebarState, View } from './sidebarState';
import { ConfigStore } from './stores/configStore';
import { JobsStore, RunCodeChoice } from './stores/jobsStore';
import { RunsFilter, RunsStore } from './stores/runsStore';
import { browserTimeZone } from './time';

export { GENERATE_CODE_COMMAND, PipelineCodeError } from './amphi';
export type { AskButton, AskFunction, AskOptions } from './ask';
export { askWithDialog, errorMessage } from './ask';
export type { DirectoryEntry } from './files';
export type { Banner, FormMode, View } from './sidebarState';
export type { RunCodeChoice } from './stores/jobsStore';
export { RUNS_PAGE_SIZE } from './stores/runsStore';
export type { RunsFilter } from './stores/runsStore';
export { LogStream } from './logStream';

export interface SchedulerModelOptions {
  contents: Contents.IManager;
  commands: CommandRegistry;
  trans: TranslationBundle;
  /** Offers the installed kernels for notebook jobs. */
  kernelspecs?: KernelSpec.IManager;
  pollIntervalSeconds?: number;
  api?: SchedulerAPI;
  /** Asks before discarding, deleting, or running stale code (tests replace it). */
  ask?: AskFunction;
}

export class SchedulerModel implements IDisposable {
  constructor(options: SchedulerModelOptions) {
    const api = options.api ?? defaultApi;
    const ask = options.ask ?? askWithDialog;
    this._api = api;
    this._trans = options.trans;
    this._kernelspecs = options.kernelspecs ?? null;
    this.sidebar = new SidebarState({ trans: options.trans, ask });
    this.configStore = new ConfigStore(api);
    this.amphi = new AmphiCode({
      commands: options.commands,
      contents: options.contents,
      trans: options.trans
    });
    this.runsStore = new RunsStore({
      api,
      trans: options.trans,
      ask,
      notices: this.sidebar,
      onRunStopped: () => void this.jobsStore.refresh(),
      onWatchedRunsEnded: () => this.refresh()
    });
    this.jobsStore = new JobsStore({
      api,
      trans: options.trans,
      ask,
      config: this.configStore,
      amphi: this.amphi,
      notices: this.sidebar,
      onListed: () => void this.files.check(),
      onRunStarted: run => this.runsStore.addStarted(run)
    });
    this.files = new WorkspaceFiles(options.contents, () =>
      this.jobsStore.jobs.map(job => job.pipeline_path)
    );
    this._pollMs = secondsToMs(options.pollIntervalSeconds ?? 10);
    this._poll = new Poll({
      factory: () => this.refresh(),
      frequency: { interval: this._pollMs, backoff: false, max: this._pollMs },
      // Nothing is polled while the panel is hidden or the tab in background.
      standby: () => !this._isActive || document.hidden,
      name: 'pipeline-scheduler:jobs'
    });
  }

  /* ----------------------------- parts ----------------------------- */

  readonly jobsStore: JobsStore;
  readonly runsStore: RunsStore;
  readonly configStore: ConfigStore;
  readonly sidebar: SidebarState;
  readonly files: WorkspaceFiles;
  readonly amphi: AmphiCode;

  /* ----------------------------- state ----------------------------- */

  get jobs(): ReadonlyArray<Job> {
    return this.jobsStore.jobs;
  }
  get jobsLoaded(): boolean {
    return this.jobsStore.isLoaded;
  }
  job(jobId: string): Job | undefined {
    return this.jobsStore.job(jobId);
  }
  isStarting(jobId: string): boolean {
    return this.jobsStore.isStarting(jobId);
  }
  get runs(): ReadonlyArray<Run> {
    return this.runsStore.runs;
  }
  get runsFilter(): RunsFilter {
    return this.runsStore.filter;
  }
  get hasMoreRuns(): boolean {
    return this.runsStore.hasMore;
  }
  get runsLoading(): boolean {
    return this.runsStore.isLoading;
  }
  isWatched(runId: number): boolean {
    return this.runsStore.isWatched(runId);
  }
  isStopping(runId: number): boolean {
    return this.runsStore.isStopping(runId);
  }
  get view(): View {
    return this.sidebar.view;
  }
  get banner(): Banner | null {
    return this.sidebar.banner;
  }
  get timeZone(): string {
    return this._timeZone;
  }
  get workspaceRoot(): string | undefined {
    return this.configStore.workspaceRoot;
  }
  get schedulerState(): 'active' | 'standby' | null {
    return this.configStore.schedulerState;
  }
  get allowedExtensions(): ReadonlyArray<string> {
    return this.configStore.allowedExtensions;
  }
  isSchedulable(path: string): boolean {
    return this.configStore.isSchedulable(path);
  }
  /** Names of the kernels installed on this Jupyter server. */
  get kernelNames(): string[] {
    return Object.keys(this._kernelspecs?.specs?.kernelspecs ?? {}).sort();
  }
  fileMissing(job: { pipeline_path: string }): boolean {
    return this.files.fileMissing(job);
  }
  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /* ---------------------------- polling ---------------------------- */

  /** Whether the panel is visible; polling stands by while it is not. */
  setActive(isActive: boolean): void {
    if (this._isActive === isActive) {
      return;
    }
    this._isActive = isActive;
    if (isActive) {
      void this._poll.refresh();
    }
  }

  setPollInterval(seconds: number): void {
    const ms = secondsToMs(seconds);
    if (ms === this._pollMs) {
      return;
    }
    this._pollMs = ms;
    this._poll.frequency = { interval: ms, backoff: false, max: ms };
  }

  /** Reload the jobs, and the runs when they are shown. */
  async refresh(): Promise<void> {
    await Promise.all([
      this.jobsStore.refresh(),
      this.sidebar.view.kind === 'runs'
        ? this.runsStore.refresh()
        : Promise.resolve()
    ]);
  }

  refreshConfig(): Promise<void> {
    return this.configStore.refresh();
  }
  refreshJobs(): Promise<void> {
    return this.jobsStore.refresh();
  }
  refreshRuns(reset = false): Promise<void> {
    return this.runsStore.refresh(reset);
  }

  /* ----------------------------- views ----------------------------- */

  /**
   * Leave the form for the jobs. A changed form asks first (and stays when
   * the person keeps editing); answers whether the view changed.
   */
  showJobs(): Promise<boolean> {
    return this.sidebar.afterLeavingForm(() => {
      this.sidebar.setView({ kind: 'jobs' });
      void this.jobsStore.refresh();
      return true;
    });
  }

  showRuns(jobId?: string): Promise<boolean> {
    return this.sidebar.afterLeavingForm(() => {
      if (jobId !== undefined) {
        this.runsStore.filterJob(jobId);
      }
      this.sidebar.setView({ kind: 'runs' });
      void this.runsStore.refresh(true);
      return true;
    });
  }

  showNewJobForm(pipelinePath = ''): Promise<boolean> {
    return this.sidebar.afterLeavingForm(() => {
      this.sidebar.openForm(
        'create',
        defaultFormState(this._timeZone, new Date(), pipelinePath)
      );
      return true;
    });
  }

  showEditForm(jobId: string): Promise<boolean> {
    return this.sidebar.afterLeavingForm(async () => {
      try {
        const job = await this._api.getJob(jobId);
        this.sidebar.openForm(
          'edit',
          jobToFormState(job, this._timeZone),
          jobId
        );
        return true;
      } catch (error) {
        this.sidebar.showError(error);
        return false;
      }
    });
  }

  showDuplicateForm(jobId: string): Promise<boolean> {
    const job = this.jobsStore.job(jobId);
    if (!job) {
      return Promise.resolve(false);
    }
    return this.sidebar.afterLeavingForm(() => {
      const initial = withoutStoredSecrets(jobToFormState(job, this._timeZone));
      initial.name = this._trans.__('Copy of %1', job.name);
      this.sidebar.openForm('duplicate', initial);
      return true;
    });
  }

  showInfo(text: string): void {
    this.sidebar.showInfo(text);
  }
  showError(error: unknown): void {
    this.sidebar.showError(error);
  }
  dismissBanner(): void {
    this.sidebar.dismissBanner();
  }

  /* ------------------------------ form ------------------------------ */

  get formDraft(): FormState | null {
    return this.sidebar.formDraft;
  }
  setFormDraft(form: FormState): void {
    this.sidebar.setFormDraft(form);
  }
  get isFormChanged(): boolean {
    return this.sidebar.isFormChanged;
  }
  confirmDiscardForm(): Promise<boolean> {
    return this.sidebar.confirmDiscardForm();
  }

  /** The server's reading of the schedule being typed. */
  previewSchedule(form: FormState, jobId?: string): Promise<SchedulePreview> {
    return this._api.previewSchedule(
      buildScheduleSpec(form, new Date(), jobId)
    );
  }

  /**
   * Create (POST) or edit (PUT) a job from the form, then show the jobs. For
   * an .ampln pipeline the code is generated first; if it cannot be,
   * nothing is sent.
   */
  async saveJob(form: FormState, mode: FormMode, jobId?: string): Promise<Job> {
    const spec: JobSpec = buildJobSpec(form, new Date(), jobId, {
      clearEmpty: mode === 'edit'
    });
    const view = this.sidebar.view;
    const opened = view.kind === 'form' ? view : null;
    if (
      mode === 'edit' &&
      opened &&
      opened.jobId === jobId &&
      scheduleKey(opened.initial) === scheduleKey(form)
    ) {
      // An edit that leaves the schedule alone does not send it again: a
      // fired one-off job keeps its past date, and a rename stays a rename.
      for (const field of SCHEDULE_SPEC_FIELDS) {
        delete spec[field];
      }
    }
    const job = await this.jobsStore.save(spec, mode, jobId);
    this.sidebar.setView({ kind: 'jobs' });
    this.sidebar.showInfo(
      mode === 'edit'
        ? this._trans.__('Job "%1" saved.', job.name)
        : this._trans.__('Job "%1" created.', job.name)
    );
    return job;
  }

  /* ----------------------------- actions ---------------------------- */

  runNow(jobId: string, choice: RunCodeChoice = 'ask'): Promise<Run | null> {
    return this.jobsStore.runNow(jobId, choice);
  }

  /** "Run with…": a dialog prefilled with the job's parameters, env and timeout. */
  async runWith(jobId: string): Promise<Run | null> {
    try {
      const job = await this._api.getJob(jobId);
      const run = await showRunWithDialog(job, this._trans, this._api);
      if (run) {
        this.runsStore.addStarted(run);
        void this.jobsStore.refresh();
      }
      return run;
    } catch (error) {
      this.sidebar.showError(error);
      return null;
    }
  }

  /** "Backfill…": a dialog for the range (in the job's zone) and the runs at once. */
  async backfill(jobId: string): Promise<Backfill | null> {
    try {
      const job = await this._api.getJob(jobId);
      const started = await showBackfillDialog(job, this._trans, this._api);
      if (started) {
        this.sidebar.showInfo(
          this._trans.__(
            'Backfill of "%1" started: %2 fire time(s).',
            job.name,
            started.total
          )
        );
        void this.refresh();
      }
      return started;
    } catch (error) {
      this.sidebar.showError(error);
      return null;
    }
  }

  /** Run a finished run again, with its logical time and overrides. */
  async rerun(runId: number): Promise<Run | null> {
    try {
      const run = await this._api.rerun(runId);
      this.runsStore.addStarted(run);
      void this.jobsStore.refresh();
      return run;
    } catch (error) {
      this.sidebar.showError(error);
      return null;
    }
  }
  setPaused(jobId: string, isPaused: boolean): Promise<void> {
    return this.jobsStore.setPaused(jobId, isPaused);
  }
  confirmDeleteJob(job: Job): Promise<boolean> {
    return this.jobsStore.confirmDelete(job);
  }
  confirmDeleteRun(run: Run | number): Promise<boolean> {
    return this.runsStore.confirmDelete(run);
  }

  /** Delete a job; the runs stop being filtered on it. */
  async deleteJob(jobId: string): Promise<void> {
    if (await this.jobsStore.delete(jobId)) {
      this.runsStore.forgetJob(jobId);
    }
  }

  regenerateCode(jobId: string): Promise<void> {
    return this.jobsStore.regenerateCode(jobId);
  }

  setRunsFilter(filter: Partial<RunsFilter>): void {
    this.runsStore.setFilter(filter);
  }
  loadMoreRuns(): Promise<void> {
    return this.runsStore.loadMore();
  }
  deleteRun(runId: number): Promise<boolean> {
    return this.runsStore.delete(runId);
  }
  clearRuns(): Promise<void> {
    return this.runsStore.clear();
  }
  cancelRun(runId: number): Promise<Run | null> {
    return this.runsStore.cancel(runId);
  }
  downloadNotebook(run: Run): Promise<void> {
    return this.runsStore.downloadNotebook(run);
  }
  openLog(runId: number): LogStream {
    return this.runsStore.openLog(runId);
  }

  /* ---------------------------- workspace --------------------------- */

  listDirectory(path: string): Promise<DirectoryEntry[]> {
    return this.files.listDirectory(path);
  }
  generatePipelineCode(path: string): Promise<string> {
    return this.amphi.generate(path);
  }

  /* ---------------------------- lifecycle --------------------------- */

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    this.runsStore.dispose();
    this.jobsStore.dispose();
    this.configStore.dispose();
    this.files.dispose();
    this.sidebar.dispose();
  }

  private _api: SchedulerAPI;
  private _trans: TranslationBundle;
  private _kernelspecs: KernelSpec.IManager | null;
  private _timeZone = browserTimeZone();
  private _poll: Poll;
  private _pollMs: number;
  private _isActive = false;
  private _isDisposed = false;
}

function secondsToMs(seconds: number): number {
  const s = Number.isFinite(seconds) ? seconds : 10;
  return Math.max(2, Math.min(3600, s)) * 1000;
}
