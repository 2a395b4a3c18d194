import { Signal } from '@lumino/signaling';

import type { CompactRun, Job, SchedulerAPI } from '../../api';
import type { SchedulerModel } from '../../model';
import { SchedulerViewModel } from '../../view/viewModel';
import { makeJob } from '../fixtures';

/** The parts of SchedulerModel the view model uses. */
function fakeModel(): SchedulerModel {
  const owner = {};
  return {
    jobsStore: { jobsChanged: new Signal<object, void>(owner) },
    job: () => undefined,
    showError: jest.fn(),
    refreshJobs: jest.fn(async () => undefined)
  } as unknown as SchedulerModel;
}

function compact(jobId: string, id: number): CompactRun {
  return {
    id,
    job_id: jobId,
    status: 'success',
    triggered_by: 'schedule',
    created_at: '2025-01-15T02:00:00+00:00',
    started_at: '2025-01-15T02:00:00+00:00',
    finished_at: '2025-01-15T02:00:03+00:00',
    duration_seconds: 3
  };
}

function fakeApi(): { api: SchedulerAPI; asked: string[][] } {
  const asked: string[][] = [];
  const api = {
    recentRuns: jest.fn(async (ids: ReadonlyArray<string>) => {
      asked.push([...ids]);
      return {
        runs_by_job: Object.fromEntries(
          ids.map((id, i) => [id, [compact(id, i + 1)]])
        )
      };
    })
  } as unknown as SchedulerAPI;
  return { api, asked };
}

async function settle(): Promise<void> {
  jest.advanceTimersByTime(100);
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
}

describe('SchedulerViewModel run strips', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('asks once for the rows in view, in batches of 100, and caches them', async () => {
    const { api, asked } = fakeApi();
    const vm = new SchedulerViewModel({ model: fakeModel(), api });
    const jobs: Job[] = Array.from({ length: 150 }, (_, i) =>
      makeJob({ id: `j${i}` })
    );
    const changed = jest.fn();
    vm.stripsChanged.connect(changed);

    // A fast scroll asks for several windows before the pause: one round of requests.
    vm.requestStrips(jobs.slice(0, 30));
    vm.requestStrips(jobs.slice(20, 150));
    expect(asked).toHaveLength(0);
    await settle();
    expect(asked.map(batch => batch.length)).toEqual([100, 50]);
    expect(new Set(asked.flat()).size).toBe(150);
    expect(vm.strip('j149')?.[0].job_id).toBe('j149');
    expect(changed).toHaveBeenCalled();

    // Cached: the same rows again ask nothing.
    vm.requestStrips(jobs.slice(0, 30));
    await settle();
    expect(asked).toHaveLength(2);
    vm.dispose();
  });

  it('asks again only for a job whose last or active run changed', async () => {
    const { api, asked } = fakeApi();
    const vm = new SchedulerViewModel({ model: fakeModel(), api });
    const jobs = [makeJob({ id: 'a' }), makeJob({ id: 'b' })];
    vm.requestStrips(jobs);
    await settle();
    expect(asked).toEqual([['a', 'b']]);

    const ran = makeJob({
      id: 'b',
      active_run: { id: 7, status: 'running', started_at: null }
    });
    vm.requestStrips([jobs[0], ran]);
    await settle();
    expect(asked).toEqual([['a', 'b'], ['b']]);
    vm.dispose();
  });
});
