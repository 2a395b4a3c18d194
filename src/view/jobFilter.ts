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

/** The text a search matches: name and file, lower case. */
export function searchKeys(jobs: ReadonlyArray<Job>): Map<string, string> {
  const keys = new Map<string, string>();
  for (const job of jobs) {
    keys.set(job.id, `${job.name}\u0000${job.pipeline_path}`.toLowerCase());
  }
  return keys;
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

const collator = new Intl.Collator(undefined, {
  numeric: true,
  sensitivity: 'base'
});

function compare(a: Job, b: Job, key: SortKey): number {
  switch (key) {
    case 'name':
      return collator.compare(a.name, b.name);
    case 'file':
      return collator.compare(a.pipeline_path, b.pipeline_path);
    case 'schedule':
      return collator.compare(a.schedule_description, b.schedule_description);
    case 'next':
      return time(a.next_run_time) - time(b.next_run_time);
    case 'outcome':
      return (
        outcomeRank(a) - outcomeRank(b) ||
        collator.compare(a.last_run?.status ?? '', b.last_run?.status ?? '')
      );
    case 'last':
      return time(b.last_run?.finished_at) - time(a.last_run?.finished_at) || 0;
  }
}

/** The jobs the query keeps, in its order (ties by name, then id: stable). */
export function applyQuery(
  jobs: ReadonlyArray<Job>,
  keys: Map<string, string>,
  query: JobQuery
): Job[] {
  const needle = query.text.trim().toLowerCase();
  const states = [...query.states];
  const kept = jobs.filter(
    job =>
      (!needle || (keys.get(job.id) ?? '').includes(needle)) &&
      (!query.fileKind || fileKind(job.pipeline_path) === query.fileKind) &&
      states.every(state => matchesState(job, state))
  );
  const sign = query.isDescending ? -1 : 1;
  kept.sort((a, b) => {
    const primary = compare(a, b, query.sort);
    if (primary !== 0 && !isNaN(primary)) {
      return sign * primary;
    }
    return collator.compare(a.name, b.name) || (a.id < b.id ? -1 : 1);
  });
  return kept;
}
