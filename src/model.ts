/**
 * The scheduler's state: jobs, runs, what the panel shows, polling, runs
 * watched until they end, and live log streams.
 *
 * Components read this model and call its methods; they never fetch. All
 * server calls go through `api.ts`; workspace files are read through
 * JupyterLab's contents service.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { Contents, KernelSpec } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { CommandRegistry } from '@lumino/commands';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  api as defaultApi,
  isActiveStatus,
  Job,
  Run,
  SchedulerAPI,
  SchedulerAPIError,
  SchedulerConfig,
  SchedulePreview
} from './api';
import { saveFile } from './download';
import { LogStream } from './logStream';
import { buildJobSpec, buildScheduleSpec } from './form/convert';
import { JobSpec } from './form/spec';
import {
  defaultFormState,
  FormState,
  isFormChanged,
  jobToFormState,
  SCHEDULE_SPEC_FIELDS,
  scheduleKey,
  withoutStoredSecrets
} from './form/state';
import { isAmplnPath, PIPELINE_EXTENSIONS } from './paths';
import { browserTimeZone } from './time';

/** Amphi ETL's command that turns an .ampln pipeline into Python code. */
export const GENERATE_CODE_COMMAND = 'pipeline-editor:generate-code';

export const RUNS_PAGE_SIZE = 50;
const WATCH_INTERVAL_MS = 1000;
const INFO_BANNER_MS = 6000;
/** How long a folder listing answers whether jobs' files exist. */
const FILE_CHECK_MS = 15000;
/** Folders listed per check at most (each is one contents request). */
const MAX_FOLDERS_CHECKED = 50;

/** The .ampln code could not be generated; nothing was sent to the server. */
export class PipelineCodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PipelineCodeError';
  }
}

export type FormMode = 'create' | 'edit' | 'duplicate';

export type View =
  | { kind: 'jobs' }
  | { kind: 'runs' }
  | {
      kind: 'form';
      mode: FormMode;
      /** The job edited (edit mode only). */
      jobId?: string;
      initial: FormState;
      /** Bumped each time a form is opened, so the form resets its state. */
      key: number;
    };

export interface RunsFilter {
  jobId: string;
  status: string;
}

export interface Banner {
  kind: 'error' | 'info';
  text: string;
}

export interface DirectoryEntry {
  name: string;
  path: string;
  type: 'directory' | 'file' | 'notebook';
}

/** One button of a question the model asks (a JupyterLab dialog by default). */
export interface AskButton {
  label: string;
  /** What `ask` answers when this button is chosen. */
  value: string;
  /** The button that keeps things as they are (Escape answers it too). */
  isCancel?: boolean;
  /** The button does something that cannot be undone. */
  isWarn?: boolean;
}

export interface AskOptions {
  title: string;
  body: string;
  buttons: AskButton[];
}

/** Ask the person; answers the chosen button's value, or null for cancel. */
export type AskFunction = (options: AskOptions) => Promise<string | null>;

/** The default AskFunction: a JupyterLab dialog. */
export async function askWithDialog(
  options: AskOptions
): Promise<string | null> {
  const buttons = options.buttons.map(b =>
    b.isCancel
      ? Dialog.cancelButton({ label: b.label })
      : b.isWarn
        ? Dialog.warnButton({ label: b.label })
        : Dialog.okButton({ label: b.label })
  );
  const result = await showDialog({
    title: options.title,
    body: options.body,
    buttons
  });
  if (!result.button.accept) {
    return null;
  }
  const chosen = options.buttons.find(
    b => !b.isCancel && b.label === result.button.label
  );
  return chosen?.value ?? null;
}

/** How Run now treats an .ampln job's code. */
export type RunCodeChoice = 'ask' | 'regenerate' | 'stored';

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

/** A message a person can read, from whatever was thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

export class SchedulerModel implements IDisposable {
  constructor(options: SchedulerModelOptions) {
    this._api = options.api ?? defaultApi;
    this._contents = options.contents;
    this._commands = options.commands;
    this._kernelspecs = options.kernelspecs ?? null;
    this._trans = options.trans;
    this._ask = options.ask ?? askWithDialog;
    this._contents.fileChanged?.connect(this._onFileChanged, this);
    this._pollMs = secondsToMs(options.pollIntervalSeconds ?? 10);
    this._poll = new Poll({
      factory: () => this.refresh(),
      frequency: { interval: this._pollMs, backoff: false, max: this._pollMs },
      // Nothing is polled while the panel is hidden or the tab in background.
      standby: () => !this._isActive || document.hidden,
      name: 'pipeline-scheduler:jobs'
    });
  }

  /* ---------------------------- signals ---------------------------- */

  /** Any state change the panel shows. */
  get changed(): ISignal<this, void> {
    return this._changed;
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

  get jobs(): ReadonlyArray<Job> {
    return this._jobs;
  }
  get jobsLoaded(): boolean {
    return this._jobsLoaded;
  }
  get runs(): ReadonlyArray<Run> {
    return this._runs;
  }
  get runsFilter(): RunsFilter {
    return this._runsFilter;
  }
  get hasMoreRuns(): boolean {
    return this._runsCursor !== null;
  }
  get runsLoading(): boolean {
    return this._runsLoading;
  }
  get view(): View {
    return this._view;
  }
  get banner(): Banner | null {
    return this._banner;
  }
  get timeZone(): string {
    return this._timeZone;
  }
  /** The workspace's absolute path on the server (kept out of messages). */
  get workspaceRoot(): string | undefined {
    return this._config?.amphi_dir;
  }
  get isDisposed(): boolean {
    return this._isDisposed;
  }
  /** A Run now of this job was asked for and the server has not answered yet. */
  isStarting(jobId: string): boolean {
    return this._starting.has(jobId);
  }
  /** Run ids started from this UI and not finished yet. */
  isWatched(runId: number): boolean {
    return this._watched.has(runId);
  }
  /**
   * 'standby' when another Jupyter server holds this workspace's scheduler
   * lock: this one serves the API but fires nothing.
   */
  get schedulerState(): 'active' | 'standby' | null {
    return this._config?.scheduler_state ?? null;
  }
  /** Names of the kernels installed on this Jupyter server. */
  get kernelNames(): string[] {
    return Object.keys(this._kernelspecs?.specs?.kernelspecs ?? {}).sort();
  }
  /** A stop was asked for this run and the server has not confirmed it yet. */
  isStopping(runId: number): boolean {
    return this._stopping.has(runId);
  }
  /** File extensions the server runs (from its config; .py, .ampln, .ipynb until known). */
  get allowedExtensions(): ReadonlyArray<string> {
    return this._config?.allowed_extensions ?? PIPELINE_EXTENSIONS;
  }
  isSchedulable(path: string): boolean {
    const lower = path.toLowerCase();
    return this.allowedExtensions.some(ext =>
      lower.endsWith(ext.toLowerCase())
    );
  }
  job(jobId: string): Job | undefined {
    return this._jobs.find(j => j.id === jobId);
  }
  /**
   * Whether the job's pipeline file is gone from the workspace (it would
   * fail when it runs). Known from a listing of each folder the jobs' files
   * are in, refreshed with the jobs and when the file browser changes a file.
   */
  fileMissing(job: { pipeline_path: string }): boolean {
    return this._missingFiles.has(job.pipeline_path);
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
      this.refreshJobs(),
      this._view.kind === 'runs' ? this.refreshRuns() : Promise.resolve()
    ]);
  }

  /**
   * The server's config: allowed extensions and whether this server is the
   * active scheduler (that can change, so it is read again with the jobs).
   */
  async refreshConfig(): Promise<void> {
    const config = await this._api.getConfig().catch(() => null);
    if (config) {
      const changed =
        config.scheduler_state !== this._config?.scheduler_state ||
        config.allowed_extensions.join() !==
          this._config?.allowed_extensions.join();
      this._config = config;
      if (changed) {
        this._changed.emit();
      }
    }
  }

  async refreshJobs(): Promise<void> {
    try {
      const [{ jobs }] = await Promise.all([
        this._api.listJobs(),
        this.refreshConfig()
      ]);
      this._jobs = jobs;
      this._jobsLoaded = true;
      void this._checkFiles();
      if (this._banner?.kind === 'error' && this._lostServer) {
        this._banner = null;
      }
      this._lostServer = false;
    } catch (error) {
      this._lostServer = true;
      this.showError(error);
    }
    this._changed.emit();
  }

  /* ----------------------------- views ----------------------------- */

  /**
   * Leave the form for the jobs. A changed form asks first (and stays when
   * the person keeps editing); answers whether the view changed.
   */
  showJobs(): Promise<boolean> {
    return this._afterLeavingForm(() => {
      this._setView({ kind: 'jobs' });
      void this.refreshJobs();
      return true;
    });
  }

  showRuns(jobId?: string): Promise<boolean> {
    return this._afterLeavingForm(() => {
      if (jobId !== undefined) {
        this._runsFilter = { ...this._runsFilter, jobId };
      }
      this._setView({ kind: 'runs' });
      void this.refreshRuns(true);
      return true;
    });
  }

  showNewJobForm(pipelinePath = ''): Promise<boolean> {
    return this._afterLeavingForm(() => {
      this._setFormView({
        kind: 'form',
        mode: 'create',
        initial: defaultFormState(this._timeZone, new Date(), pipelinePath),
        key: ++this._formKey
      });
      return true;
    });
  }

  showEditForm(jobId: string): Promise<boolean> {
    return this._afterLeavingForm(async () => {
      try {
        const job = await this._api.getJob(jobId);
        this._setFormView({
          kind: 'form',
          mode: 'edit',
          jobId,
          initial: jobToFormState(job, this._timeZone),
          key: ++this._formKey
        });
        return true;
      } catch (error) {
        this.showError(error);
        return false;
      }
    });
  }

  showDuplicateForm(jobId: string): Promise<boolean> {
    const job = this.job(jobId);
    if (!job) {
      return Promise.resolve(false);
    }
    return this._afterLeavingForm(() => {
      const initial = withoutStoredSecrets(jobToFormState(job, this._timeZone));
      initial.name = this._trans.__('Copy of %1', job.name);
      this._setFormView({
        kind: 'form',
        mode: 'duplicate',
        initial,
        key: ++this._formKey
      });
      return true;
    });
  }

  /** A passing message; it goes away by itself after a few seconds. */
  showInfo(text: string): void {
    const banner: Banner = { kind: 'info', text };
    this._banner = banner;
    this._changed.emit();
    window.setTimeout(() => {
      if (this._banner === banner) {
        this.dismissBanner();
      }
    }, INFO_BANNER_MS);
  }

  showError(error: unknown): void {
    this._banner = { kind: 'error', text: errorMessage(error) };
    this._changed.emit();
  }

  dismissBanner(): void {
    this._banner = null;
    this._changed.emit();
  }

  /* ------------------------------ form ------------------------------ */

  /**
   * The open form's state as last typed: kept here (not only in the form's
   * React state) so a half-filled form survives its view being closed and
   * opened again. Null when no form is open.
   */
  get formDraft(): FormState | null {
    return this._view.kind === 'form' ? this._draft : null;
  }

  /** The form reports each change; nothing re-renders for it. */
  setFormDraft(form: FormState): void {
    if (this._view.kind === 'form') {
      this._draft = form;
    }
  }

  /** Whether the open form differs from what it opened with. */
  get isFormChanged(): boolean {
    return (
      this._view.kind === 'form' &&
      this._draft !== null &&
      isFormChanged(this._view.initial, this._draft)
    );
  }

  /**
   * Before the form goes away: nothing to lose answers true at once; a
   * changed form asks whether to discard it.
   */
  async confirmDiscardForm(): Promise<boolean> {
    if (!this.isFormChanged) {
      return true;
    }
    if (this._asking) {
      return false;
    }
    this._asking = true;
    try {
      const answer = await this._ask({
        title: this._trans.__('Discard the changes?'),
        body: this._trans.__(
          'The job form has changes that are not saved. Discard them, or keep editing?'
        ),
        buttons: [
          {
            label: this._trans.__('Keep editing'),
            value: 'keep',
            isCancel: true
          },
          { label: this._trans.__('Discard'), value: 'discard', isWarn: true }
        ]
      });
      return answer === 'discard';
    } finally {
      this._asking = false;
    }
  }

  /** The server's reading of the schedule being typed. */
  previewSchedule(form: FormState, jobId?: string): Promise<SchedulePreview> {
    return this._api.previewSchedule(
      buildScheduleSpec(form, new Date(), jobId)
    );
  }

  /**
   * Create (POST) or edit (PUT) a job from the form. For an .ampln pipeline
   * the code is generated first; if it cannot be, nothing is sent.
   */
  async saveJob(form: FormState, mode: FormMode, jobId?: string): Promise<Job> {
    const spec: JobSpec = buildJobSpec(form, new Date(), jobId, {
      clearEmpty: mode === 'edit'
    });
    const opened = this._view.kind === 'form' ? this._view : null;
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
    const previous = jobId ? this.job(jobId) : undefined;
    const needsCode =
      isAmplnPath(spec.pipeline_path) &&
      (mode !== 'edit' || previous?.pipeline_path !== spec.pipeline_path);
    if (needsCode) {
      spec.python_code = await this.generatePipelineCode(spec.pipeline_path);
    }
    const job =
      mode === 'edit' && jobId
        ? await this._api.updateJob(jobId, spec)
        : await this._api.createJob(spec);
    this._upsertJob(job, true);
    this._view = { kind: 'jobs' };
    this._draft = null;
    this.showInfo(
      mode === 'edit'
        ? this._trans.__('Job "%1" saved.', job.name)
        : this._trans.__('Job "%1" created.', job.name)
    );
    return job;
  }

  /* ----------------------------- actions ---------------------------- */

  /**
   * Start a run now, without waiting. An .ampln job runs freshly generated
   * code when its file is unchanged (the same code; its stored code when
   * Amphi's editor is missing). When the file changed since its code was
   * generated, `'ask'` (the default) lets the person choose: regenerate the
   * code and run it (the job keeps the new code), or run the stored code.
   */
  async runNow(
    jobId: string,
    choice: RunCodeChoice = 'ask'
  ): Promise<Run | null> {
    const job = this.job(jobId);
    if (!job || this._starting.has(jobId)) {
      // A second click while the first is on its way does nothing.
      return null;
    }
    const isAmpln = isAmplnPath(job.pipeline_path);
    if (isAmpln && job.pipeline_changed && choice === 'ask') {
      this._starting.add(jobId);
      this._changed.emit();
      let answer: string | null;
      try {
        answer = await this._ask({
          title: this._trans.__('The pipeline changed'),
          body: this._trans.__(
            '"%1" was changed after the code of "%2" was generated. Regenerate the code from the file as it is now and run it (the job keeps the new code), or run the code stored with the job?',
            job.pipeline_path,
            job.name
          ),
          buttons: [
            {
              label: this._trans.__('Cancel'),
              value: 'cancel',
              isCancel: true
            },
            { label: this._trans.__('Run the stored code'), value: 'stored' },
            {
              label: this._trans.__('Regenerate code and run'),
              value: 'regenerate'
            }
          ]
        });
      } finally {
        this._starting.delete(jobId);
        this._changed.emit();
      }
      if (answer !== 'stored' && answer !== 'regenerate') {
        return null;
      }
      choice = answer;
    }
    this._starting.add(jobId);
    this._changed.emit();
    try {
      const canGenerate = this._commands.hasCommand(GENERATE_CODE_COMMAND);
      const regenerate =
        isAmpln &&
        choice !== 'stored' &&
        (choice === 'regenerate' || job.pipeline_changed || canGenerate);
      const code = regenerate
        ? await this.generatePipelineCode(job.pipeline_path)
        : undefined;
      const run = await this._api.startRun(job.id, code);
      this._upsertJob({
        ...job,
        pipeline_changed: code === undefined ? job.pipeline_changed : false,
        // Its card links to this run at once (the job list catches up later).
        last_run: { id: run.id, status: run.status, finished_at: null },
        active_run:
          run.status === 'queued' || run.status === 'running'
            ? { id: run.id, status: run.status, started_at: run.started_at }
            : job.active_run
      });
      if (this._runMatchesFilter(run)) {
        this._runs = [run, ...this._runs.filter(r => r.id !== run.id)];
      }
      this._watch(run);
      this._changed.emit();
      return run;
    } catch (error) {
      this.showError(error);
      return null;
    } finally {
      this._starting.delete(jobId);
      this._changed.emit();
    }
  }

  async setPaused(jobId: string, isPaused: boolean): Promise<void> {
    try {
      const job = isPaused
        ? await this._api.pauseJob(jobId)
        : await this._api.resumeJob(jobId);
      this._upsertJob(job);
      this._changed.emit();
    } catch (error) {
      this.showError(error);
    }
  }

  /**
   * Ask before deleting a job, saying what the server does: it stops the
   * schedule, stops a run in progress, and deletes the job's run history
   * and logs with it.
   */
  async confirmDeleteJob(job: Job): Promise<boolean> {
    const answer = await this._ask({
      title: this._trans.__('Delete job'),
      body: this._trans.__(
        'Delete the job "%1"? Its schedule stops, a run in progress is stopped, and its whole run history and logs are deleted with it. This cannot be undone.',
        job.name
      ),
      buttons: [
        { label: this._trans.__('Cancel'), value: 'cancel', isCancel: true },
        { label: this._trans.__('Delete'), value: 'delete', isWarn: true }
      ]
    });
    return answer === 'delete';
  }

  /** Ask before deleting one run: every place that offers it calls this. */
  async confirmDeleteRun(run: Run | number): Promise<boolean> {
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

  async deleteJob(jobId: string): Promise<void> {
    try {
      await this._api.deleteJob(jobId);
      this._jobs = this._jobs.filter(j => j.id !== jobId);
      if (this._runsFilter.jobId === jobId) {
        this._runsFilter = { ...this._runsFilter, jobId: '' };
      }
      this._changed.emit();
    } catch (error) {
      this.showError(error);
    }
  }

  /** Generate an .ampln job's code again from the file as it is now. */
  async regenerateCode(jobId: string): Promise<void> {
    const job = this.job(jobId);
    if (!job) {
      return;
    }
    try {
      const code = await this.generatePipelineCode(job.pipeline_path);
      const updated = await this._api.updateJob(jobId, { python_code: code });
      this._upsertJob(updated);
      this.showInfo(
        this._trans.__('The code of "%1" was generated again.', job.name)
      );
    } catch (error) {
      this.showError(error);
    }
  }

  /* ------------------------------ runs ------------------------------ */

  setRunsFilter(filter: Partial<RunsFilter>): void {
    this._runsFilter = { ...this._runsFilter, ...filter };
    void this.refreshRuns(true);
  }

  /**
   * Reload the runs from the newest; keeps as many as were loaded so that a
   * poll does not undo "Load more".
   */
  async refreshRuns(reset = false): Promise<void> {
    const limit = reset
      ? RUNS_PAGE_SIZE
      : Math.min(1000, Math.max(RUNS_PAGE_SIZE, this._runs.length));
    const request = ++this._runsRequest;
    this._runsLoading = true;
    this._changed.emit();
    try {
      const page = await this._api.listRuns({
        job_id: this._runsFilter.jobId || undefined,
        status: this._runsFilter.status || undefined,
        limit
      });
      if (request === this._runsRequest) {
        this._runs = page.runs;
        this._runsCursor = page.next_cursor;
      }
    } catch (error) {
      this.showError(error);
    } finally {
      if (request === this._runsRequest) {
        this._runsLoading = false;
      }
      this._changed.emit();
    }
  }

  async loadMoreRuns(): Promise<void> {
    if (this._runsCursor === null) {
      return;
    }
    const request = ++this._runsRequest;
    this._runsLoading = true;
    this._changed.emit();
    try {
      const page = await this._api.listRuns({
        job_id: this._runsFilter.jobId || undefined,
        status: this._runsFilter.status || undefined,
        limit: RUNS_PAGE_SIZE,
        before: this._runsCursor
      });
      if (request === this._runsRequest) {
        const known = new Set(this._runs.map(r => r.id));
        this._runs = [
          ...this._runs,
          ...page.runs.filter(r => !known.has(r.id))
        ];
        this._runsCursor = page.next_cursor;
      }
    } catch (error) {
      this.showError(error);
    } finally {
      if (request === this._runsRequest) {
        this._runsLoading = false;
      }
      this._changed.emit();
    }
  }

  async deleteRun(runId: number): Promise<boolean> {
    try {
      await this._api.deleteRun(runId);
      this._runs = this._runs.filter(r => r.id !== runId);
      this._changed.emit();
      this._runsDeleted.emit(runId);
      return true;
    } catch (error) {
      this.showError(error);
      return false;
    }
  }

  /** Delete the history: of the filtered job, or all of it. */
  async clearRuns(): Promise<void> {
    try {
      const { deleted } = await this._api.clearRuns(
        this._runsFilter.jobId || undefined
      );
      this.showInfo(
        this._trans._n('%1 run deleted.', '%1 runs deleted.', deleted)
      );
      this._runsDeleted.emit(null);
      await this.refreshRuns(true);
    } catch (error) {
      this.showError(error);
    }
  }

  /**
   * Ask the server to stop a queued or running run. The server answers once
   * the run's processes are gone (after SIGTERM, or SIGKILL after its grace).
   */
  async cancelRun(runId: number): Promise<Run | null> {
    if (this._stopping.has(runId)) {
      return null;
    }
    this._stopping.add(runId);
    this._changed.emit();
    try {
      const run = await this._api.cancelRun(runId);
      this._runs = this._runs.map(r =>
        r.id === run.id ? { ...r, ...run } : r
      );
      return run;
    } catch (error) {
      if (error instanceof SchedulerAPIError && error.status === 409) {
        // It ended by itself meanwhile: show how.
        void this.refreshRuns();
      } else {
        this.showError(error);
      }
      return null;
    } finally {
      this._stopping.delete(runId);
      void this.refreshJobs();
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

  /* ---------------------------- workspace --------------------------- */

  async listDirectory(path: string): Promise<DirectoryEntry[]> {
    const model = await this._contents.get(path, { content: true });
    const items = (model.content || []) as Contents.IModel[];
    return items
      .filter(item => !item.name.startsWith('.'))
      .map(item => ({
        name: item.name,
        path: item.path,
        type: item.type === 'directory' ? 'directory' : ('file' as const)
      }))
      .sort((a, b) =>
        a.type === b.type
          ? a.name.localeCompare(b.name)
          : a.type === 'directory'
            ? -1
            : 1
      ) as DirectoryEntry[];
  }

  /**
   * Amphi's own code generator, run in this page on the file's text.
   * Throws a PipelineCodeError saying what to do when it cannot.
   */
  async generatePipelineCode(path: string): Promise<string> {
    if (!this._commands.hasCommand(GENERATE_CODE_COMMAND)) {
      throw new PipelineCodeError(
        this._trans.__(
          'Amphi ETL\'s pipeline editor is not installed, so the code of the .ampln pipeline "%1" cannot be generated. Install Amphi ETL in this JupyterLab, or schedule a .py file instead. Nothing was scheduled.',
          path
        )
      );
    }
    let text: string;
    try {
      const file = await this._contents.get(path, {
        content: true,
        format: 'text',
        type: 'file'
      });
      text =
        typeof file.content === 'string'
          ? file.content
          : JSON.stringify(file.content);
    } catch (error) {
      throw new PipelineCodeError(
        this._trans.__(
          'The pipeline "%1" could not be read: %2',
          path,
          errorMessage(error)
        )
      );
    }
    let code: unknown;
    try {
      code = await this._commands.execute(GENERATE_CODE_COMMAND, {
        json: text
      });
    } catch (error) {
      throw new PipelineCodeError(
        this._trans.__(
          'Amphi could not generate the code of "%1": %2. Open the pipeline in Amphi, fix it, and try again.',
          path,
          errorMessage(error)
        )
      );
    }
    if (typeof code !== 'string' || !code.trim()) {
      throw new PipelineCodeError(
        this._trans.__(
          'Amphi generated no code for "%1". Open the pipeline in Amphi, check that it is complete, and try again.',
          path
        )
      );
    }
    return code;
  }

  /* ---------------------------- lifecycle --------------------------- */

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    if (this._watchTimer !== null) {
      clearTimeout(this._watchTimer);
    }
    Signal.clearData(this);
  }

  /* ----------------------------- private ---------------------------- */

  /**
   * Open another view once the form may go: at once when nothing in it
   * changed (so callers see the new view synchronously), else after asking.
   */
  private _afterLeavingForm(
    open: () => boolean | Promise<boolean>
  ): Promise<boolean> {
    if (!this.isFormChanged) {
      return Promise.resolve(open());
    }
    return this.confirmDiscardForm().then(isDiscarded =>
      isDiscarded ? open() : false
    );
  }

  private _setView(view: View): void {
    this._view = view;
    if (view.kind !== 'form') {
      this._draft = null;
    }
    this._changed.emit();
  }

  private _setFormView(view: View & { kind: 'form' }): void {
    this._draft = view.initial;
    this._setView(view);
  }

  private _upsertJob(job: Job, toFront = false): void {
    const index = this._jobs.findIndex(j => j.id === job.id);
    if (index === -1) {
      this._jobs = toFront ? [job, ...this._jobs] : [...this._jobs, job];
    } else {
      const jobs = this._jobs.slice();
      jobs[index] = { ...jobs[index], ...job };
      this._jobs = jobs;
    }
  }

  /** List each folder holding jobs' files (cached briefly) and note the missing files. */
  private async _checkFiles(): Promise<void> {
    if (this._checkingFiles) {
      return;
    }
    this._checkingFiles = true;
    try {
      const folders = new Map<string, string[]>();
      for (const job of this._jobs) {
        const path = job.pipeline_path;
        // Hidden folders are not listed by the contents API: no verdict.
        if (path.split('/').some(part => part.startsWith('.'))) {
          continue;
        }
        const folder = path.includes('/')
          ? path.slice(0, path.lastIndexOf('/'))
          : '';
        const files = folders.get(folder) ?? [];
        files.push(path);
        folders.set(folder, files);
      }
      const now = Date.now();
      const missing = new Set<string>();
      let checked = 0;
      for (const [folder, files] of folders) {
        if (checked++ >= MAX_FOLDERS_CHECKED) {
          break;
        }
        let names = this._folderListings.get(folder);
        if (!names || now - names.at > FILE_CHECK_MS) {
          const listed = await this._listNames(folder);
          if (listed === undefined) {
            continue;
          }
          names = { at: now, names: listed };
          this._folderListings.set(folder, names);
        }
        for (const path of files) {
          if (!names.names.has(path)) {
            missing.add(path);
          }
        }
      }
      const changed =
        missing.size !== this._missingFiles.size ||
        Array.from(missing).some(p => !this._missingFiles.has(p));
      this._missingFiles = missing;
      if (changed) {
        this._changed.emit();
      }
    } finally {
      this._checkingFiles = false;
    }
  }

  /** The paths of a folder's files; an empty set when the folder is gone; undefined when unknown. */
  private async _listNames(folder: string): Promise<Set<string> | undefined> {
    try {
      const model = await this._contents.get(folder, { content: true });
      const items = (model.content || []) as Contents.IModel[];
      return new Set(items.map(item => item.path));
    } catch (error) {
      const status = (error as { response?: { status?: number } })?.response
        ?.status;
      return status === 404 ? new Set() : undefined;
    }
  }

  private _onFileChanged(
    _: Contents.IManager,
    change: Contents.IChangedArgs
  ): void {
    for (const value of [change.oldValue, change.newValue]) {
      const path = value?.path;
      if (typeof path === 'string') {
        this._folderListings.delete(
          path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : ''
        );
      }
    }
    void this._checkFiles();
  }

  private _runMatchesFilter(run: Run): boolean {
    const { jobId, status } = this._runsFilter;
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
    if (this._watchTimer !== null || this._watched.size === 0) {
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
    if (anyEnded) {
      await this.refresh();
    } else {
      this._changed.emit();
    }
  }

  private _api: SchedulerAPI;
  private _contents: Contents.IManager;
  private _commands: CommandRegistry;
  private _kernelspecs: KernelSpec.IManager | null;
  private _trans: TranslationBundle;
  private _timeZone = browserTimeZone();
  private _poll: Poll;
  private _pollMs: number;
  private _isActive = false;
  private _isDisposed = false;
  private _lostServer = false;
  private _config: SchedulerConfig | null = null;
  private _jobs: Job[] = [];
  private _jobsLoaded = false;
  private _runs: Run[] = [];
  private _runsCursor: number | null = null;
  private _runsFilter: RunsFilter = { jobId: '', status: '' };
  private _runsLoading = false;
  private _runsRequest = 0;
  private _view: View = { kind: 'jobs' };
  private _formKey = 0;
  private _banner: Banner | null = null;
  private _watched = new Set<number>();
  private _stopping = new Set<number>();
  private _watchTimer: number | null = null;
  private _changed = new Signal<this, void>(this);
  private _runFinished = new Signal<this, Run>(this);
  private _runsDeleted = new Signal<this, number | null>(this);
  private _starting = new Set<string>();
  private _ask: AskFunction;
  private _asking = false;
  private _draft: FormState | null = null;
  private _missingFiles = new Set<string>();
  private _folderListings = new Map<
    string,
    { at: number; names: Set<string> }
  >();
  private _checkingFiles = false;
}

function secondsToMs(seconds: number): number {
  const s = Number.isFinite(seconds) ? seconds : 10;
  return Math.max(2, Math.min(3600, s)) * 1000;
}

export { LogStream } from './logStream';
