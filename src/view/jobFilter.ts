/**
 * Search, filters and sorting of the jobs table: pure functions over the job
 * list, cheap enough to run on every keystroke over 10,000 jobs (the search
 * text of each job is built once per job list, not per keystroke).
 */
import type { Job } from '../api';

export type JobState = 'running' | 'failing' | 'paused' | 'never';
export type FileKind = '.py' | '.ampln' | '.ipynb';
export type SortKey =
  'name' | 'file' | 'schedule' | 'next' | 'outcome' | 'last';

export interface JobQuery {
  text: string;
  states: ReadonlySet<JobState>;
  fileKind: FileKind | '';
  sort: SortKey;
  isDescending: boolean;
}

export const EMPTY_QUERY: JobQuery = {
  text: '',
  states: new Set(),
  fileKind: '',
  sort: 'name',
  isDescending: false
};

const FAILED = new Set(['failure', 'timeout']);

export function isFailing(job: Job): boolean {
  return !!job.last_run && FAILED.has(job.last_run.status);
}

export function matchesState(job: Job, state: JobState): boolean {
  switch (state) {
    case 'running':
      return !!job.active_run;
    case 'failing':
      return isFailing(job);
    case 'paused':
      return job.paused;
    case 'never':
      return !job.last_run && !job.active_run;
  }
}

export function fileKind(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot === -1 ? '' : path.slice(dot).toLowerCase();
}

/**
 * The search text of each job (name and file, lower case), built once per
 * job list so a keystroke only runs `includes` over it.
 */
export type JobKeys = Map<string, string>;

export function searchKeys(jobs: ReadonlyArray<Job>): JobKeys {
  const keys: JobKeys = new Map();
  for (const job of jobs) {
    keys.set(job.id, `${job.name}\u0000${job.pipeline_path}`.toLowerCase());
  }
  return keys;
}

const DIGITS = /\d+/g;
const ZEROS = '000000000000';

/**
 * A key whose plain string order is the "natural" order (lower case, digit
 * runs zero-padded: "job 2" before "job 10"). Plain comparisons of these
 * sort 10,000 jobs in a few milliseconds; Intl.Collator with numeric
 * ordering took 100-350 ms on a shuffled list.
 */
export function naturalKey(text: string): string {
  const lower = text.toLowerCase();
  return /\d/.test(lower)
    ? lower.replace(DIGITS, d =>
        d.length >= 12 ? d : ZEROS.slice(d.length) + d
      )
    : lower;
}

function time(iso: string | null | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** Outcome order: active first, then failing, then the rest, never ran last. */
function outcomeRank(job: Job): number {
  if (job.active_run) {
    return 0;
  }
  if (isFailing(job)) {
    return 1;
  }
  return job.last_run ? 2 : 3;
}

function sortKey(job: Job, key: SortKey): string | number {
  switch (key) {
    case 'name':
      return naturalKey(job.name);
    case 'file':
      return naturalKey(job.pipeline_path);
    case 'schedule':
      return naturalKey(job.schedule_description);
    case 'next':
      return time(job.next_run_time);
    case 'outcome':
      return outcomeRank(job);
    case 'last': {
      // Most recently finished first; never finished last.
      const finished = time(job.last_run?.finished_at);
      return finished === Number.POSITIVE_INFINITY ? finished : -finished;
    }
  }
}

/**
 * The jobs in the sort's order (ties by name, then id: stable). Only the
 * sorted column's keys are computed; keep the result while only the search
 * or filters change.
 */
export function sortJobs(
  jobs: ReadonlyArray<Job>,
  sort: SortKey,
  isDescending: boolean
): Job[] {
  const sign = isDescending ? -1 : 1;
  const withKeys = jobs.map(job => [job, sortKey(job, sort)] as const);
  withKeys.sort(([ja, a], [jb, b]) => {
    if (a !== b) {
      return a < b ? -sign : sign;
    }
    return ja.name < jb.name
      ? -1
      : ja.name > jb.name
        ? 1
        : ja.id < jb.id
          ? -1
          : 1;
  });
  return withKeys.map(([job]) => job);
}

/** The jobs (already sorted) that the search and filters keep, in order. */
export function filterJobs(
  sorted: ReadonlyArray<Job>,
  keys: JobKeys,
  query: JobQuery
): Job[] {
  const needle = query.text.trim().toLowerCase();
  const states = [...query.states];
  if (!needle && !states.length && !query.fileKind) {
    return sorted as Job[];
  }
  return sorted.filter(
    job =>
      (!needle || (keys.get(job.id) ?? '').includes(needle)) &&
      (!query.fileKind || fileKind(job.pipeline_path) === query.fileKind) &&
      states.every(state => matchesState(job, state))
  );
}

/** Sort, then filter: the table's rows for a query. */
export function applyQuery(
  jobs: ReadonlyArray<Job>,
  keys: JobKeys,
  query: JobQuery
): Job[] {
  return filterJobs(
    sortJobs(jobs, query.sort, query.isDescending),
    keys,
    query
  );
}
