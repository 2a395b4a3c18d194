/**
 * Job history in the job detail: the versions as the server lists them (when,
 * who, what changed), and a restore that asks first and reaches the server
 * only when confirmed.
 */
import { fireEvent, render } from '@testing-library/react';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import type { AskOptions } from '../../ask';
import type { JobVersion, SchedulerAPI } from '../../api';
import type { SchedulerModel } from '../../model';
import { JobHistory, changeSummary } from '../../view/JobHistory';
import { SchedulerViewModel } from '../../view/viewModel';
import { makeJob, runsPage, trans } from '../fixtures';

function version(n: number, overrides: Partial<JobVersion> = {}): JobVersion {
  return {
    version: n,
    created_at: `2025-01-0${n}T10:00:00+00:00`,
    author: 'alice',
    changes: n === 1 ? [] : ['interval_seconds'],
    restored_from: null,
    definition: {
      name: 'Nightly load',
      pipeline_path: 'etl/load.py',
      schedule_type: 'interval',
      interval_seconds: n === 2 ? 3600 : 60,
      timezone: 'UTC',
      secret_env_keys: []
    },
    ...overrides
  } as JobVersion;
}

const VERSIONS = [
  version(3, { restored_from: 1, author: 'bob (cli)' }),
  version(2),
  version(1, { author: null })
];

describe('JobHistory', () => {
  it('lists each version with who and what changed, and restores the older ones', () => {
    const onRestore = jest.fn();
    const { getByTestId } = render(
      <JobHistory
        versions={VERSIONS}
        currentVersion={3}
        trans={trans}
        onRestore={onRestore}
      />
    );
    const items = Array.from(
      getByTestId('job-versions').querySelectorAll('li')
    );
    expect(items.map(li => li.dataset.version)).toEqual(['3', '2', '1']);
    expect(items[0].textContent).toContain('bob (cli)');
    expect(items[0].textContent).toContain(
      'restored from version 1: interval_seconds'
    );
    expect(items[0].textContent).toContain('current');
    expect(items[0].querySelector('[data-action="restore-version"]')).toBe(
      null
    );
    expect(items[2].textContent).toContain('unknown');
    expect(items[2].textContent).toContain('created');
    expect(items[1].querySelector('time')?.getAttribute('dateTime')).toBe(
      '2025-01-02T10:00:00+00:00'
    );

    fireEvent.click(
      items[2].querySelector('[data-action="restore-version"]') as Element
    );
    expect(onRestore).toHaveBeenCalledWith(1);
  });

  it('says what a version changed', () => {
    expect(changeSummary(version(2), trans)).toBe('interval_seconds');
    expect(changeSummary(version(1), trans)).toBe('created');
    expect(
      changeSummary(version(4, { changes: [], restored_from: 2 }), trans)
    ).toBe('restored from version 2');
  });
});

describe('SchedulerViewModel.restoreVersion', () => {
  function setUp(answer: string | null) {
    const job = makeJob({ id: 'job_a', version: 3 });
    let versions = VERSIONS.slice(1);
    const api = {
      getJob: jest.fn(async () => ({ ...job, python_code: null })),
      jobNextRuns: jest.fn(async () => ({
        job_id: 'job_a',
        timezone: 'UTC',
        description: '',
        paused: false,
        next_run_times: []
      })),
      listRuns: jest.fn(async () => runsPage([])),
      listJobVersions: jest.fn(async () => ({ versions })),
      restoreJobVersion: jest.fn(async () => {
        versions = VERSIONS;
        return { ...job, version: 3, python_code: null };
      })
    };
    const model = {
      jobsStore: { jobsChanged: new Signal<object, void>({}) },
      job: () => undefined,
      showError: jest.fn(),
      refreshJobs: jest.fn(async () => undefined)
    } as unknown as SchedulerModel;
    const asked: AskOptions[] = [];
    const vm = new SchedulerViewModel({
      model,
      api: api as unknown as SchedulerAPI,
      pollIntervalSeconds: 3600,
      ask: async options => {
        asked.push(options);
        return answer;
      }
    });
    return { vm, api, asked, model };
  }

  async function opened(vm: SchedulerViewModel): Promise<void> {
    vm.select('job_a');
    for (let i = 0; i < 10 && vm.detail?.isLoading; i++) {
      await new Promise(resolve => setTimeout(resolve, 0));
    }
  }

  it('asks first and restores only when confirmed', async () => {
    const { vm, api, asked, model } = setUp('restore');
    await opened(vm);
    expect(vm.detail?.versions.map(v => v.version)).toEqual([2, 1]);

    expect(await vm.restoreVersion(1, trans)).toBe(true);
    expect(asked[0].title).toBe('Restore version 1?');
    expect(asked[0].body).toContain('secret values');
    expect(api.restoreJobVersion).toHaveBeenCalledWith('job_a', 1);
    expect(vm.detail?.versions.map(v => v.version)).toEqual([3, 2, 1]);
    expect(model.refreshJobs).toHaveBeenCalled();
    vm.dispose();
  });

  it('changes nothing when the question is cancelled', async () => {
    const { vm, api, asked } = setUp(null);
    await opened(vm);
    expect(await vm.restoreVersion(2, trans)).toBe(false);
    expect(asked).toHaveLength(1);
    expect(api.restoreJobVersion).not.toHaveBeenCalled();
    vm.dispose();
  });
});
