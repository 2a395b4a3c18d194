/**
 * The job list and what is done to jobs: refresh, save, pause/resume,
 * delete, Run now and regenerating an .ampln job's code.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';

import type { Job, Run, SchedulerAPI } from '../api';
import type { AmphiCode } from '../amphi';
import type { AskFunction } from '../ask';
import type { JobSpec } from '../form/spec';
import { isAmplnPath } from '../paths';
import type { FormMode, Notices } from '../sidebarState';
import type { ConfigStore } from './configStore';

/** How Run now treats an .ampln job's code. */
export type RunCodeChoice = 'ask' | 'regenerate' | 'stored';

export interface JobsStoreOptions {
  api: SchedulerAPI;
  trans: TranslationBundle;
  ask: AskFunction;
  config: ConfigStore;
  amphi: AmphiCode;
  notices: Notices;
  /** The server answered the job list (the jobs' files are checked then). */
  onListed: () => void;
  /** Run now started a run. */
  onRunStarted: (run: Run) => void;
}

export class JobsStore {
  constructor(options: JobsStoreOptions) {
    this._api = options.api;
    this._trans = options.trans;
    this._ask = options.ask;
    this._config = options.config;
    this._amphi = options.amphi;
    this._notices = options.notices;
    this._onListed = options.onListed;
    this._onRunStarted = options.onRunStarted;
  }

  /** The job list, or a job's Run now in progress, changed. */
  get jobsChanged(): ISignal<this, void> {
    return this._jobsChanged;
  }

  get jobs(): ReadonlyArray<Job> {
    return this._jobs;
  }
  /** The server has answered the job list once. */
  get isLoaded(): boolean {
    return this._isLoaded;
  }
  job(jobId: string): Job | undefined {
    return this._jobs.find(j => j.id === jobId);
  }
  /** A Run now of this job was asked for and the server has not answered yet. */
  isStarting(jobId: string): boolean {
    return this._starting.has(jobId);
  }

  /** Reload the jobs, and the server's config with them. */
  async refresh(): Promise<void> {
    try {
      const [{ jobs }] = await Promise.all([
        this._api.listJobs(),
        this._config.refresh()
      ]);
      this._jobs = jobs;
      this._isLoaded = true;
      this._onListed();
      if (this._lostServer) {
        this._notices.dismissError();
      }
      this._lostServer = false;
    } catch (error) {
      this._lostServer = true;
      this._notices.showError(error);
    }
    this._jobsChanged.emit();
  }

  /**
   * Create (POST) or edit (PUT) a job. For an .ampln pipeline the code is
   * generated first; if it cannot be, nothing is sent.
   */
  async save(spec: JobSpec, mode: FormMode, jobId?: string): Promise<Job> {
    const previous = jobId ? this.job(jobId) : undefined;
    const needsCode =
      isAmplnPath(spec.pipeline_path) &&
      (mode !== 'edit' || previous?.pipeline_path !== spec.pipeline_path);
    if (needsCode) {
      spec.python_code = await this._amphi.generate(spec.pipeline_path);
    }
    const job =
      mode === 'edit' && jobId
        ? await this._api.updateJob(jobId, spec)
        : await this._api.createJob(spec);
    this._upsert(job, true);
    this._jobsChanged.emit();
    return job;
  }

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
      this._jobsChanged.emit();
      let answer: 'regenerate' | 'stored' | null;
      try {
        answer = await this._amphi.askStaleCode(this._ask, job);
      } finally {
        this._starting.delete(jobId);
        this._jobsChanged.emit();
      }
      if (answer === null) {
        return null;
      }
      choice = answer;
    }
    this._starting.add(jobId);
    this._jobsChanged.emit();
    try {
      const regenerate =
        isAmpln &&
        choice !== 'stored' &&
        (choice === 'regenerate' ||
          job.pipeline_changed ||
          this._amphi.canGenerate);
      const code = regenerate
        ? await this._amphi.generate(job.pipeline_path)
        : undefined;
      const run = await this._api.startRun(job.id, code);
      this._upsert({
        ...job,
        pipeline_changed: code === undefined ? job.pipeline_changed : false,
        // Its card links to this run at once (the job list catches up later).
        last_run: { id: run.id, status: run.status, finished_at: null },
        active_run:
          run.status === 'queued' || run.status === 'running'
            ? { id: run.id, status: run.status, started_at: run.started_at }
            : job.active_run
      });
      this._onRunStarted(run);
      this._jobsChanged.emit();
      return run;
    } catch (error) {
      this._notices.showError(error);
      return null;
    } finally {
      this._starting.delete(jobId);
      this._jobsChanged.emit();
    }
  }

  async setPaused(jobId: string, isPaused: boolean): Promise<void> {
    try {
      const job = isPaused
        ? await this._api.pauseJob(jobId)
        : await this._api.resumeJob(jobId);
      this._upsert(job);
      this._jobsChanged.emit();
    } catch (error) {
      this._notices.showError(error);
    }
  }

  /**
   * Ask before deleting a job, saying what the server does: it stops the
   * schedule, stops a run in progress, and deletes the job's run history
   * and logs with it.
   */
  async confirmDelete(job: Job): Promise<boolean> {
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

  /** Delete a job; answers whether the server deleted it. */
  async delete(jobId: string): Promise<boolean> {
    try {
      await this._api.deleteJob(jobId);
      this._jobs = this._jobs.filter(j => j.id !== jobId);
      this._jobsChanged.emit();
      return true;
    } catch (error) {
      this._notices.showError(error);
      return false;
    }
  }

  /** Generate an .ampln job's code again from the file as it is now. */
  async regenerateCode(jobId: string): Promise<void> {
    const job = this.job(jobId);
    if (!job) {
      return;
    }
    try {
      const code = await this._amphi.generate(job.pipeline_path);
      const updated = await this._api.updateJob(jobId, { python_code: code });
      this._upsert(updated);
      this._jobsChanged.emit();
      this._notices.showInfo(
        this._trans.__('The code of "%1" was generated again.', job.name)
      );
    } catch (error) {
      this._notices.showError(error);
    }
  }

  dispose(): void {
    Signal.clearData(this);
  }

  private _upsert(job: Job, toFront = false): void {
    const index = this._jobs.findIndex(j => j.id === job.id);
    if (index === -1) {
      this._jobs = toFront ? [job, ...this._jobs] : [...this._jobs, job];
    } else {
      const jobs = this._jobs.slice();
      jobs[index] = { ...jobs[index], ...job };
      this._jobs = jobs;
    }
  }

  private _api: SchedulerAPI;
  private _trans: TranslationBundle;
  private _ask: AskFunction;
  private _config: ConfigStore;
  private _amphi: AmphiCode;
  private _notices: Notices;
  private _onListed: () => void;
  private _onRunStarted: (run: Run) => void;
  private _lostServer = false;
  private _isLoaded = false;
  private _jobs: Job[] = [];
  private _starting = new Set<string>();
  private _jobsChanged = new Signal<this, void>(this);
}
