/**
 * The model's parts each signal their own changes: a part that shows jobs is
 * not told about a runs change, and the other way round.
 */
import { CommandRegistry } from '@lumino/commands';
import type { Contents } from '@jupyterlab/services';
import type { ISignal } from '@lumino/signaling';

import { SchedulerModel } from '../model';
import { FakeServer } from './fakeServer';
import { makeConfig, makeJob, makeRun, runsPage, trans } from './fixtures';

let server: FakeServer;
let model: SchedulerModel;

/** Counts the emissions of each of the model's signals. */
function countSignals(m: SchedulerModel): Record<string, number> {
  const counts: Record<string, number> = {};
  const signals: Record<string, ISignal<unknown, unknown>> = {
    jobs: m.jobsStore.jobsChanged,
    runs: m.runsStore.runsChanged,
    config: m.configStore.configChanged,
    view: m.sidebar.viewChanged,
    banner: m.sidebar.bannerChanged,
    files: m.files.missingChanged
  };
  for (const [name, signal] of Object.entries(signals)) {
    counts[name] = 0;
    signal.connect(() => counts[name]++);
  }
  return counts;
}

/** The names of the signals that fired. */
function fired(counts: Record<string, number>): string[] {
  return Object.keys(counts).filter(name => counts[name] > 0);
}

beforeEach(() => {
  server = new FakeServer();
  server
    .on('GET', 'config', { body: makeConfig() })
    .on('GET', 'jobs', { body: { jobs: [makeJob()] } })
    .on('GET', 'runs', { body: runsPage([makeRun({ id: 1 })]) });
  server.install();
  model = new SchedulerModel({
    contents: {
      get: async (path: string) => ({
        name: path,
        path,
        type: 'directory',
        content: [{ name: 'load.py', path: 'etl/load.py', type: 'file' }]
      })
    } as unknown as Contents.IManager,
    commands: new CommandRegistry(),
    trans,
    pollIntervalSeconds: 3600
  });
});

afterEach(() => {
  model.dispose();
  server.uninstall();
});

describe('the model parts signal separately', () => {
  it('a jobs refresh emits jobsChanged, not runsChanged', async () => {
    await model.refreshConfig();
    const counts = countSignals(model);
    await model.refreshJobs();
    expect(counts.jobs).toBeGreaterThan(0);
    expect(fired(counts)).toEqual(['jobs']);
  });

  it('a runs filter change emits only runsChanged', async () => {
    await model.refreshJobs();
    const counts = countSignals(model);
    model.setRunsFilter({ status: 'failed' });
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(server.calls('GET', 'runs')[0].query.get('status')).toBe('failed');
    expect(model.runs.map(r => r.id)).toEqual([1]);
    expect(fired(counts)).toEqual(['runs']);
  });

  it('showing the runs changes the view and the runs, not the jobs', async () => {
    const counts = countSignals(model);
    await model.showRuns();
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(model.view.kind).toBe('runs');
    expect(fired(counts).sort()).toEqual(['runs', 'view']);
  });

  it('a banner emits only bannerChanged; a form draft emits nothing', async () => {
    await model.showNewJobForm('etl/load.py');
    const counts = countSignals(model);
    model.showError(new Error('Nope'));
    expect(model.banner?.text).toBe('Nope');
    expect(fired(counts)).toEqual(['banner']);
    counts.banner = 0;
    model.setFormDraft({ ...model.formDraft!, name: 'Typed' });
    expect(model.isFormChanged).toBe(true);
    expect(fired(counts)).toEqual([]);
  });

  it('a run started here changes the jobs (its card) and the runs', async () => {
    server.on('POST', 'run/job_a', {
      status: 202,
      body: makeRun({ id: 7, status: 'running', finished_at: null })
    });
    await model.refreshJobs();
    const counts = countSignals(model);
    await model.runNow('job_a');
    expect(model.runs.map(r => r.id)).toEqual([7]);
    expect(fired(counts).sort()).toEqual(['jobs', 'runs']);
  });
});
