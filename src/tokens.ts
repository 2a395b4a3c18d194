/**
 * The scheduler's public interface, for Amphi ETL or any other extension:
 * require `IPipelineScheduler` (optional) in a plugin to open the job form or
 * read the jobs without going through commands.
 */
import { Token } from '@lumino/coreutils';
import type { ISignal } from '@lumino/signaling';

import type { Job } from './api';

export type { Job, Run } from './api';

// JupyterLab's convention for the interface a token provides.
// eslint-disable-next-line @typescript-eslint/naming-convention
export interface IPipelineScheduler {
  /**
   * Show the Scheduler with a new job's form, its file set to `path`
   * (relative to the workspace root; empty: the person picks one).
   */
  openJobForm(path?: string): void;
  /** The jobs as the server lists them now. */
  listJobs(): Promise<ReadonlyArray<Job>>;
  /** The job list changed (created, edited, deleted, ran, paused...). */
  readonly jobsChanged: ISignal<IPipelineScheduler, ReadonlyArray<Job>>;
}

export const IPipelineScheduler = new Token<IPipelineScheduler>(
  '@amphi/pipeline-scheduler:IPipelineScheduler',
  'Schedules pipelines, Python scripts and notebooks, and lists their jobs.'
);
