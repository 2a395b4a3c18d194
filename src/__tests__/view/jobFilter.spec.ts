import {
  applyQuery,
  EMPTY_QUERY,
  type JobQuery,
  naturalKey,
  searchKeys,
  sortJobs
} from '../../view/jobFilter';
import { visibleRange, ROW_HEIGHT } from '../../view/JobsTable';
import { triggerChain } from '../../view/TriggerGraph';
import { makeJob } from '../fixtures';

const jobs = [
  makeJob({ id: 'a', name: 'Alpha load', pipeline_path: 'etl/a.py' }),
  makeJob({
    id: 'b',
    name: 'Beta report',
    pipeline_path: 'report.ipynb',
    last_run: {
      id: 3,
      status: 'timeout',
      finished_at: '2025-01-15T02:00:00+00:00'
    }
  }),
  makeJob({
    id: 'c',
    name: 'gamma',
    pipeline_path: 'flows/c.ampln',
    paused: true,
    next_run_time: null,
    last_run: {
      id: 2,
      status: 'success',
      finished_at: '2025-01-14T02:00:00+00:00'
    }
  }),
  makeJob({
    id: 'd',
    name: 'Delta 10',
    pipeline_path: 'etl/d.py',
    active_run: {
      id: 9,
      status: 'running',
      started_at: '2025-01-15T08:59:00+00:00'
    },
    next_run_time: '2025-01-15T10:00:00+01:00'
  })
];
const keys = searchKeys(jobs);
const ids = (query: Partial<JobQuery>) =>
  applyQuery(jobs, keys, { ...EMPTY_QUERY, ...query }).map(j => j.id);

describe('jobs table query', () => {
  it('searches name and file, ignoring case', () => {
    expect(ids({ text: 'REPORT' })).toEqual(['b']);
    expect(ids({ text: 'etl/' })).toEqual(['a', 'd']);
    expect(ids({ text: '  ' })).toEqual(['a', 'b', 'd', 'c']);
  });

  it('filters by state and file type, all filters at once', () => {
    expect(ids({ states: new Set(['failing']) })).toEqual(['b']);
    expect(ids({ states: new Set(['running']) })).toEqual(['d']);
    expect(ids({ states: new Set(['paused']) })).toEqual(['c']);
    expect(ids({ states: new Set(['never']) })).toEqual(['a']);
    expect(ids({ fileKind: '.ampln' })).toEqual(['c']);
    expect(ids({ fileKind: '.py', states: new Set(['running']) })).toEqual([
      'd'
    ]);
  });

  it('sorts by each column, both ways', () => {
    expect(ids({ sort: 'name' })).toEqual(['a', 'b', 'd', 'c']);
    expect(ids({ sort: 'name', isDescending: true })).toEqual([
      'c',
      'd',
      'b',
      'a'
    ]);
    expect(ids({ sort: 'file' })).toEqual(['a', 'd', 'c', 'b']);
    // Running first, then failing, then ran, then never ran.
    expect(ids({ sort: 'outcome' })).toEqual(['d', 'b', 'c', 'a']);
    // Soonest first; no next run (paused) last.
    expect(ids({ sort: 'next' })[0]).toBe('d');
    expect(ids({ sort: 'next' }).slice(-1)).toEqual(['c']);
  });

  it('sorts names naturally: numbers by value, case ignored', () => {
    const named = ['job 10', 'Job 2', 'job 1', 'alpha'].map((name, i) =>
      makeJob({ id: `n${i}`, name })
    );
    expect(sortJobs(named, 'name', false).map(j => j.name)).toEqual([
      'alpha',
      'job 1',
      'Job 2',
      'job 10'
    ]);
    expect(naturalKey('Run 7 of 12')).toBe('run 000000000007 of 000000000012');
  });

  it('filters 10,000 jobs in a few milliseconds', () => {
    const many = Array.from({ length: 10000 }, (_, i) =>
      makeJob({ id: `j${i}`, name: `Job ${i}`, pipeline_path: `p/${i}.py` })
    );
    const manyKeys = searchKeys(many);
    const started = performance.now();
    const found = applyQuery(many, manyKeys, {
      ...EMPTY_QUERY,
      text: 'job 99'
    });
    const took = performance.now() - started;
    expect(found.map(j => j.name)).toContain('Job 9999');
    expect(found).toHaveLength(111); // 99, 990-999, 9900-9999
    expect(took).toBeLessThan(200); // generous: a shared CI machine
  });
});

describe('windowing', () => {
  it('renders only the rows in view, with overscan', () => {
    expect(visibleRange(0, 340, 10000)).toEqual([0, 18]);
    const [first, last] = visibleRange(5000 * ROW_HEIGHT, 340, 10000);
    expect(first).toBe(4992);
    expect(last).toBe(5018);
    expect(visibleRange(9999 * ROW_HEIGHT, 340, 10000)).toEqual([9991, 10000]);
    expect(visibleRange(0, 340, 0)).toEqual([0, 0]);
  });
});

describe('trigger chain', () => {
  it('lists the jobs a job waits for and the jobs that wait for it', () => {
    const up = makeJob({ id: 'up', name: 'Extract' });
    const self = makeJob({
      id: 'self',
      name: 'Transform',
      schedule_type: 'trigger',
      logical_operator: 'AND',
      trigger_conditions: [
        { job_id: 'up', on: 'success' },
        { job_id: 'gone', on: 'failure' }
      ]
    });
    const down = makeJob({
      id: 'down',
      name: 'Load',
      schedule_type: 'trigger',
      trigger_conditions: [{ job_id: 'self', on: 'failure' }]
    });
    const chain = triggerChain(self, [up, self, down]);
    expect(chain.operator).toBe('AND');
    expect(chain.upstream).toEqual([
      { jobId: 'up', name: 'Extract', on: 'success', isMissing: false },
      { jobId: 'gone', name: 'gone', on: 'failure', isMissing: true }
    ]);
    expect(chain.downstream).toEqual([
      { jobId: 'down', name: 'Load', on: 'failure' }
    ]);
  });
});
