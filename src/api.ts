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

import type { components } from './generated/openapi';
import { notebookFileName } from './paths';
import type { JobSpec, ParameterValue, ScheduleSpec } from './form/spec';

export type {
  CatchupPolicy,
  DateType,
  JobSpec,
  LogicalOperator,
  ParameterValue,
  ScheduleSpec,
  ScheduleType,
  TriggerCondition
} from './form/spec';

/**
 * The answer types are generated from the OpenAPI document (docs/openapi.json,
 * itself generated from the server's pydantic models): `jlpm gen:types`
 * rewrites src/generated/openapi.ts, and a server test fails when it drifts.
 */
type Schemas = components['schemas'];

export type RunStatus = Schemas['RunStatus'];
export type TriggeredBy = Schemas['TriggeredBy'];

export const ACTIVE_STATUSES: ReadonlyArray<RunStatus> = ['queued', 'running'];

export function isActiveStatus(status: string): boolean {
  return (ACTIVE_STATUSES as string[]).includes(status);
}

export type LastRun = Schemas['LastRun'];
/** A queued or running run of a job. */
export type ActiveRun = Schemas['ActiveRun'];
/** A job as the server lists it (`GET jobs`). */
export type Job = Schemas['Job'];
/** A job as `GET jobs/{id}` and every write answer it: with `python_code`. */
export type JobDetail = Schemas['JobDetail'];
/** A run as the history lists it. */
export type Run = Schemas['Run'];
/** A run with the tails of its output (`GET runs/{id}`). */
export type RunDetail = Schemas['RunDetail'];
export type SchedulePreview = Schemas['Preview'];
export type RunsPage = Schemas['RunList'];
export type LogChunk = Schemas['RunLog'];
export type WaitedRunResult = Schemas['RunNowResult'];
export type SchedulerConfig = Schemas['Config'];
export type SuccessAnswer = Schemas['Success'];
/** Runs in the order they ended, after a cursor (`GET runs/finished`). */
export type FinishedRuns = Schemas['FinishedRuns'];
/** A run as a run strip or the timeline draws it. */
export type CompactRun = Schemas['CompactRun'];
export type RecentRuns = Schemas['RecentRuns'];
export type RunTimeline = Schemas['RunTimeline'];
export type JobNextRuns = Schemas['JobNextRuns'];
/** One version of a job's definition (job history). */
export type JobVersion = Schemas['JobVersion'];
/** A backfill: a job's fire times in a past range, run oldest first. */
export type Backfill = Schemas['Backfill'];
/** The answer that shows a job's webhook token (the only one that does). */
export type WebhookToken = Schemas['WebhookToken'];
/** What one run is given over its job's values ("Run with…"). */
export interface RunOverridesBody {
  parameters?: Record<string, ParameterValue>;
  env?: Record<string, string>;
  timeout_seconds?: number;
}
/** The body of `POST jobs/{id}/backfill`. */
export interface BackfillRequest {
  start: string;
  end: string;
  max_active?: number;
}
/** An error answer: the message, and what is wrong with each field. */
export type ErrorAnswer = Schemas['Error'];

/**
 * The form's JobSpec (form/spec.ts) must stay a valid body for the server's
 * JobSpec: this type does not compile when they drift apart.
 */
export type JobSpecMatchesContract = Assignable<JobSpec, Schemas['JobSpec']>;
type Assignable<T extends U, U> = T;

export interface RunsQuery {
  job_id?: string;
  status?: string;
  limit?: number;
  before?: number;
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
    readonly url: string,
    /** The answer's `fields`: what is wrong with each request field. */
    readonly fields: Record<string, string> = {}
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
    const fields =
      data && data.fields && typeof data.fields === 'object' ? data.fields : {};
    throw new SchedulerAPIError(message, response.status, url, fields);
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
  listJobs: () => requestAPI<Schemas['JobList']>('jobs'),
  getJob: (jobId: string) => requestAPI<JobDetail>(`jobs/${id(jobId)}`),
  createJob: (spec: JobSpec) =>
    requestAPI<JobDetail>('jobs', jsonBody('POST', spec)),
  updateJob: (jobId: string, spec: Partial<JobSpec>) =>
    requestAPI<JobDetail>(`jobs/${id(jobId)}`, jsonBody('PUT', spec)),
  deleteJob: (jobId: string) =>
    requestAPI<SuccessAnswer>(`jobs/${id(jobId)}`, { method: 'DELETE' }),
  pauseJob: (jobId: string) =>
    requestAPI<JobDetail>(`jobs/${id(jobId)}/pause`, { method: 'POST' }),
  resumeJob: (jobId: string) =>
    requestAPI<JobDetail>(`jobs/${id(jobId)}/resume`, { method: 'POST' }),
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
  /** Start a run with overrides for it alone, without waiting (202 Run). */
  startRunWith: (jobId: string, overrides: RunOverridesBody) =>
    requestAPI<Run>(
      `run/${id(jobId)}`,
      jsonBody('POST', { ...overrides, wait: false })
    ),
  /** Run a past run again: its logical time and overrides (202 Run). */
  rerun: (runId: number) =>
    requestAPI<Run>(`runs/${id(runId)}/rerun`, { method: 'POST' }),
  startBackfill: (jobId: string, body: BackfillRequest) =>
    requestAPI<Backfill>(`jobs/${id(jobId)}/backfill`, jsonBody('POST', body)),
  /** A job's backfills, newest first. */
  listBackfills: (jobId: string) =>
    requestAPI<Schemas['BackfillList']>(`jobs/${id(jobId)}/backfills`),
  cancelBackfill: (backfillId: number) =>
    requestAPI<Backfill>(`backfills/${id(backfillId)}/cancel`, {
      method: 'POST'
    }),
  listRuns: (q: RunsQuery = {}) =>
    requestAPI<RunsPage>(
      `runs${query({
        job_id: q.job_id,
        status: q.status,
        limit: q.limit,
        before: q.before
      })}`
    ),
  getRun: (runId: number) => requestAPI<RunDetail>(`runs/${id(runId)}`),
  deleteRun: (runId: number) =>
    requestAPI<SuccessAnswer>(`runs/${id(runId)}`, { method: 'DELETE' }),
  clearRuns: (jobId?: string) =>
    requestAPI<Schemas['DeletedRuns']>(`runs${query({ job_id: jobId })}`, {
      method: 'DELETE'
    }),
  cancelRun: (runId: number) =>
    requestAPI<RunDetail>(`runs/${id(runId)}/cancel`, { method: 'POST' }),
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
  /** The newest runs of each job (the Scheduler view's run strips). */
  recentRuns: (jobIds: ReadonlyArray<string>, perJob?: number) =>
    requestAPI<RecentRuns>(
      `runs/recent${query({ job_ids: jobIds.join(','), per_job: perJob })}`
    ),
  /** Runs whose span overlaps [since, until] (ISO), for the runs timeline. */
  runsTimeline: (since?: string, until?: string, limit?: number) =>
    requestAPI<RunTimeline>(`runs/timeline${query({ since, until, limit })}`),
  /** A job's versions, newest first (job history). */
  listJobVersions: (jobId: string) =>
    requestAPI<Schemas['JobVersionList']>(`jobs/${id(jobId)}/versions`),
  /** Make a job's definition that version's again (a new version). */
  restoreJobVersion: (jobId: string, version: number) =>
    requestAPI<JobDetail>(`jobs/${id(jobId)}/versions/${id(version)}/restore`, {
      method: 'POST'
    }),
  /** Enable a job's inbound webhook or rotate its token: the token is in this answer only. */
  enableWebhook: (jobId: string) =>
    requestAPI<WebhookToken>(`jobs/${id(jobId)}/webhook`, { method: 'POST' }),
  disableWebhook: (jobId: string) =>
    requestAPI<SuccessAnswer>(`jobs/${id(jobId)}/webhook`, {
      method: 'DELETE'
    }),
  jobNextRuns: (jobId: string, count?: number) =>
    requestAPI<JobNextRuns>(`jobs/${id(jobId)}/next_runs${query({ count })}`),
  /** Runs that ended after `after` (none, and the cursor now, without it). */
  listFinishedRuns: (after?: number, limit?: number) =>
    requestAPI<FinishedRuns>(`runs/finished${query({ after, limit })}`),
  /**
   * Where the browser downloads a run's whole log from (a plain link: the
   * browser streams it to disk). As JupyterLab's own file downloads, it
   * carries the XSRF cookie's value.
   */
  logDownloadUrl: (runId: number): string => {
    const settings = ServerConnection.makeSettings();
    const url = new URL(
      URLExt.join(
        settings.baseUrl,
        API_NAMESPACE,
        `runs/${id(runId)}/log/download`
      ),
      window.location.href
    );
    const xsrf = document.cookie.match('\\b_xsrf=([^;]*)\\b');
    if (xsrf) {
      url.searchParams.append('_xsrf', xsrf[1]);
    }
    return url.toString();
  },
  getConfig: () => requestAPI<SchedulerConfig>('config')
};

export type SchedulerAPI = typeof api;
