/**
 * The only module that talks to the scheduler's server extension.
 *
 * Interfaces use the JSON field names of docs/api.md unchanged. Every call
 * goes through `requestAPI`, which throws a `SchedulerAPIError` carrying the
 * server's `{"error": ...}` text, so the UI can always show the server's own
 * message.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { notebookFileName } from './payload';
import type {
  CatchupPolicy,
  DateType,
  JobSpec,
  LogicalOperator,
  ParameterValue,
  ScheduleSpec,
  ScheduleType,
  TriggerCondition
} from './payload';

export type {
  CatchupPolicy,
  DateType,
  JobSpec,
  LogicalOperator,
  ParameterValue,
  ScheduleSpec,
  ScheduleType,
  TriggerCondition
} from './payload';

export type RunStatus =
  | 'queued'
  | 'running'
  | 'success'
  | 'failure'
  | 'cancelled'
  | 'timeout'
  | 'interrupted'
  | 'skipped';

export type TriggeredBy =
  'schedule' | 'manual' | 'trigger' | 'catchup' | 'retry';

export const ACTIVE_STATUSES: ReadonlyArray<RunStatus> = ['queued', 'running'];

export function isActiveStatus(status: string): boolean {
  return (ACTIVE_STATUSES as string[]).includes(status);
}

export interface LastRun {
  id: number;
  status: RunStatus;
  finished_at: string | null;
}

/** A job as the server answers it. */
export interface Job {
  id: string;
  name: string;
  pipeline_path: string;
  python_code?: string | null;
  description?: string | null;
  schedule_type: ScheduleType;
  date_type?: DateType | null;
  run_date?: string | null;
  interval_days?: number | null;
  interval_seconds?: number | null;
  cron_expression?: string | null;
  logical_operator?: LogicalOperator | null;
  trigger_conditions?: TriggerCondition[] | null;
  timezone?: string | null;
  max_instances?: number | null;
  coalesce?: boolean | null;
  misfire_grace_time?: number | null;
  next_run_time: string | null;
  trigger: string;
  schedule_description: string;
  paused: boolean;
  last_run: LastRun | null;
  created_at: string;
  updated_at: string;
  code_hash?: string | null;
  pipeline_changed?: boolean | null;
  catchup?: CatchupPolicy | null;
  timeout_seconds?: number | null;
  max_retries?: number | null;
  retry_delay_seconds?: number | null;
  env?: Record<string, string> | null;
  /** The names of the secret variables; their values are never answered. */
  secret_env_keys?: string[];
  parameters?: Record<string, ParameterValue> | null;
  python_executable?: string | null;
  working_dir?: string | null;
  kernel_name?: string | null;
  webhook_url?: string | null;
}

export interface Run {
  id: number;
  job_id: string;
  job_name: string;
  pipeline_path: string;
  status: RunStatus;
  triggered_by: TriggeredBy;
  scheduled_for: string | null;
  created_at?: string | null;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  duration_seconds: number | null;
  log_size: number;
  log_truncated: boolean;
  pipeline_changed: boolean | null;
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt?: number;
  /** Why it ended the way it did, e.g. why it was skipped. */
  message?: string | null;
  /** A notebook run whose executed notebook can be downloaded. */
  has_notebook?: boolean;
  /** detail answer only */
  output?: string;
  /** detail answer only */
  error?: string;
}

export interface SchedulePreview {
  description: string;
  trigger: string;
  next_run_times: string[];
  timezone: string;
}

export interface RunsPage {
  runs: Run[];
  next_cursor: number | null;
}

export interface RunsQuery {
  job_id?: string;
  status?: string;
  limit?: number;
  before?: number;
}

export interface LogChunk {
  data: string;
  offset: number;
  next_offset: number;
  size: number;
  finished: boolean;
  status: RunStatus;
}

export interface WaitedRunResult {
  success: boolean;
  output: string;
  error: string;
  exit_code: number | null;
  run_id: number;
}

export interface SchedulerConfig {
  amphi_dir: string;
  timezone: string;
  allowed_extensions: string[];
  scheduler_state: 'active' | 'standby';
  version: string;
}

/** A file answered by the server, for a download. */
export interface DownloadedFile {
  name: string;
  blob: Blob;
}

/** An error answered by the server (or the network), with the server's text. */
export class SchedulerAPIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly url: string
  ) {
    super(message);
    this.name = 'SchedulerAPIError';
  }
}

const API_NAMESPACE = 'pipeline-scheduler';

/**
 * Fetch a route under `{base_url}pipeline-scheduler/` and answer the raw
 * response. ServerConnection adds the token and the XSRF header. A non-2xx
 * answer becomes a SchedulerAPIError whose message is the server's `error`.
 */
async function fetchAPI(
  endPoint: string,
  init: RequestInit,
  settings: ServerConnection.ISettings
): Promise<Response> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new SchedulerAPIError(
      `The Jupyter server could not be reached: ${(error as Error).message}`,
      0,
      url
    );
  }
  if (!response.ok) {
    const data = parseJSON(await response.text());
    const message =
      data && typeof data.error === 'string'
        ? data.error
        : data && typeof data.message === 'string'
          ? data.message
          : `The server answered ${response.status} ${response.statusText} without an explanation.`;
    throw new SchedulerAPIError(message, response.status, url);
  }
  return response;
}

function parseJSON(text: string): any {
  if (text.length === 0) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Call a route and answer its JSON. */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const response = await fetchAPI(endPoint, init, settings);
  return parseJSON(await response.text()) as T;
}

function jsonBody(method: string, body: unknown): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  };
}

function query(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(
      ([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`
    );
  return parts.length ? `?${parts.join('&')}` : '';
}

const id = (value: string | number) => encodeURIComponent(String(value));

export const api = {
  listJobs: () => requestAPI<{ jobs: Job[] }>('jobs'),
  getJob: (jobId: string) => requestAPI<Job>(`jobs/${id(jobId)}`),
  createJob: (spec: JobSpec) => requestAPI<Job>('jobs', jsonBody('POST', spec)),
  updateJob: (jobId: string, spec: Partial<JobSpec>) =>
    requestAPI<Job>(`jobs/${id(jobId)}`, jsonBody('PUT', spec)),
  deleteJob: (jobId: string) =>
    requestAPI<{ success: boolean }>(`jobs/${id(jobId)}`, { method: 'DELETE' }),
  pauseJob: (jobId: string) =>
    requestAPI<Job>(`jobs/${id(jobId)}/pause`, { method: 'POST' }),
  resumeJob: (jobId: string) =>
    requestAPI<Job>(`jobs/${id(jobId)}/resume`, { method: 'POST' }),
  previewSchedule: (spec: ScheduleSpec) =>
    requestAPI<SchedulePreview>('schedule/preview', jsonBody('POST', spec)),
  /** Start a run without waiting: the answer is the Run, already running. */
  startRun: (jobId: string, pythonCode?: string) =>
    requestAPI<Run>(
      `run/${id(jobId)}`,
      jsonBody(
        'POST',
        pythonCode === undefined
          ? { wait: false }
          : { wait: false, python_code: pythonCode }
      )
    ),
  listRuns: (q: RunsQuery = {}) =>
    requestAPI<RunsPage>(
      `runs${query({
        job_id: q.job_id,
        status: q.status,
        limit: q.limit,
        before: q.before
      })}`
    ),
  getRun: (runId: number) => requestAPI<Run>(`runs/${id(runId)}`),
  deleteRun: (runId: number) =>
    requestAPI<{ success: boolean }>(`runs/${id(runId)}`, { method: 'DELETE' }),
  clearRuns: (jobId?: string) =>
    requestAPI<{ success: boolean; deleted: number }>(
      `runs${query({ job_id: jobId })}`,
      { method: 'DELETE' }
    ),
  cancelRun: (runId: number) =>
    requestAPI<Run>(`runs/${id(runId)}/cancel`, { method: 'POST' }),
  /** The executed notebook of a notebook run, named for the download. */
  getRunNotebook: async (
    runId: number,
    pipelinePath: string
  ): Promise<DownloadedFile> => {
    const response = await fetchAPI(
      `runs/${id(runId)}/notebook`,
      {},
      ServerConnection.makeSettings()
    );
    return {
      name: notebookFileName(
        response.headers.get('Content-Disposition'),
        pipelinePath,
        runId
      ),
      blob: await response.blob()
    };
  },
  getRunLog: (runId: number, offset: number, maxBytes?: number) =>
    requestAPI<LogChunk>(
      `runs/${id(runId)}/log${query({ offset, max_bytes: maxBytes })}`
    ),
  getConfig: () => requestAPI<SchedulerConfig>('config')
};

export type SchedulerAPI = typeof api;
