/**
 * SchedulerModel against a fake HTTP server (fakeServer.ts): the requests it
 * sends for each action, and the state it shows from the answers.
 */
import { CommandRegistry } from '@lumino/commands';
import type { Contents } from '@jupyterlab/services';

import {
  GENERATE_CODE_COMMAND,
  PipelineCodeError,
  SchedulerModel
} from '../model';
import { defaultFormState } from '../form/state';
import { FakeServer } from './fakeServer';
import { makeConfig, makeJob, makeRun, runsPage, trans } from './fixtures';

/** The workspace files the model reads through the contents service. */
function fakeContents(files: Record<string, string>): Contents.IManager {
  return {
    get: async (path: string) => {
      if (!(path in files)) {
        throw new Error(`${path}: no such file`);
      }
      return { name: path, path, type: 'file', content: files[path] };
    }
  } as unknown as Contents.IManager;
}

let server: FakeServer;
let commands: CommandRegistry;
let model: SchedulerModel;

function newModel(files: Record<string, string> = {}): SchedulerModel {
  return new SchedulerModel({
    contents: fakeContents(files),
    commands,
    trans,
    pollIntervalSeconds: 3600
  });
}

beforeEach(() => {
  server = new FakeServer();
  server.on('GET', 'config', { body: makeConfig() });
  server.install();
  commands = new CommandRegistry();
  model = newModel();
});

afterEach(() => {
  model.dispose();
  server.uninstall();
});

describe('SchedulerModel jobs', () => {
  it('loads the job list and says so through its jobsChanged signal', async () => {
    const jobs = [makeJob(), makeJob({ id: 'job_b', name: 'Report' })];
    server.on('GET', 'jobs', { body: { jobs } });
    let changes = 0;
    model.jobsStore.jobsChanged.connect(() => changes++);
    expect(model.jobsLoaded).toBe(false);
    await model.refreshJobs();
    expect(model.jobsLoaded).toBe(true);
    expect(model.jobs.map(j => j.name)).toEqual(['Nightly load', 'Report']);
    expect(model.job('job_b')?.name).toBe('Report');
    expect(changes).toBeGreaterThan(0);
  });

  it('offers only the extensions the server runs', async () => {
    server.on('GET', 'jobs', { body: { jobs: [] } });
    expect(model.isSchedulable('etl/x.ipynb')).toBe(true); // default until the config answers
    server.on('GET', 'config', {
      body: makeConfig({ allowed_extensions: ['.py'] })
    });
    await model.refreshJobs();
    expect(model.allowedExtensions).toEqual(['.py']);
    expect(model.isSchedulable('etl/LOAD.PY')).toBe(true);
    expect(model.isSchedulable('etl/x.ipynb')).toBe(false);
  });

  it("shows the server's own error text when the list fails", async () => {
    server.on('GET', 'jobs', {
      status: 503,
      body: { error: 'The database is busy; try again in a moment.' }
    });
    await model.refreshJobs();
    expect(model.jobsLoaded).toBe(false);
    expect(model.banner).toEqual({
      kind: 'error',
      text: 'The database is busy; try again in a moment.'
    });
  });

  it('pauses and resumes through their routes and shows the answer', async () => {
    const job = makeJob();
    server
      .on('GET', 'jobs', { body: { jobs: [job] } })
      .on('POST', 'jobs/job_a/pause', {
        body: { ...job, paused: true, next_run_time: null }
      })
      .on('POST', 'jobs/job_a/resume', { body: { ...job, paused: false } });
    await model.refreshJobs();
    await model.setPaused('job_a', true);
    expect(server.calls('POST', 'jobs/job_a/pause')).toHaveLength(1);
    expect(model.job('job_a')?.paused).toBe(true);
    expect(model.job('job_a')?.next_run_time).toBeNull();
    await model.setPaused('job_a', false);
    expect(server.calls('POST', 'jobs/job_a/resume')).toHaveLength(1);
    expect(model.job('job_a')?.paused).toBe(false);
    expect(model.job('job_a')?.next_run_time).toBe(job.next_run_time);
  });

  it('deletes a job and drops it from the list and the runs filter', async () => {
    server
      .on('GET', 'jobs', {
        body: { jobs: [makeJob(), makeJob({ id: 'job_b' })] }
      })
      .on('DELETE', 'jobs/job_a', { body: { success: true } })
      .on('GET', 'runs', { body: runsPage([]) });
    await model.refreshJobs();
    model.setRunsFilter({ jobId: 'job_a' });
    await model.deleteJob('job_a');
    expect(server.calls('DELETE', 'jobs/job_a')).toHaveLength(1);
    expect(model.jobs.map(j => j.id)).toEqual(['job_b']);
    expect(model.runsFilter.jobId).toBe('');
  });

  it('duplicates a job as a new one: "Copy of" its name, created with POST', async () => {
    const original = makeJob({ name: 'Original' });
    server
      .on('GET', 'jobs', { body: { jobs: [original] } })
      .on('POST', 'jobs', request => ({
        body: makeJob({ ...request.body, id: 'job_copy' })
      }));
    await model.refreshJobs();
    model.showDuplicateForm('job_a');
    const view = model.view;
    if (view.kind !== 'form') {
      throw new Error(`expected the form, got ${view.kind}`);
    }
    expect(view.mode).toBe('duplicate');
    expect(view.initial.name).toBe('Copy of Original');
    await model.saveJob(view.initial, 'duplicate');
    const [post] = server.calls('POST', 'jobs');
    expect(post.body.name).toBe('Copy of Original');
    expect(post.body.id).toBeUndefined();
    expect(post.body.cron_expression).toBe('0 3 * * *');
    expect(server.writes()).toHaveLength(1);
    expect(model.jobs.map(j => j.name)).toEqual([
      'Copy of Original',
      'Original'
    ]);
    expect(model.view.kind).toBe('jobs');
  });

  it('edits a job with one PUT to its own route, never a POST', async () => {
    const job = makeJob({ name: 'Editable' });
    server
      .on('GET', 'jobs', { body: { jobs: [job] } })
      .on('GET', 'jobs/job_a', { body: { ...job, python_code: null } })
      .on('PUT', 'jobs/job_a', request => ({
        body: { ...job, ...request.body }
      }));
    await model.refreshJobs();
    await model.showEditForm('job_a');
    const view = model.view;
    if (view.kind !== 'form') {
      throw new Error(`expected the form, got ${view.kind}`);
    }
    expect(view.mode).toBe('edit');
    expect(view.initial.cronExpression).toBe('0 3 * * *');
    const form = {
      ...view.initial,
      name: 'Edited',
      kind: 'interval' as const,
      intervalValue: '2',
      intervalUnit: 'hours' as const
    };
    await model.saveJob(form, 'edit', 'job_a');
    expect(server.writes().map(r => `${r.method} ${r.route}`)).toEqual([
      'PUT jobs/job_a'
    ]);
    const [put] = server.calls('PUT', 'jobs/job_a');
    expect(put.body.name).toBe('Edited');
    expect(put.body.schedule_type).toBe('interval');
    expect(put.body.interval_seconds).toBe(7200);
    expect(model.jobs.map(j => j.name)).toEqual(['Edited']);
  });
});

describe('SchedulerModel .ampln code', () => {
  const AMPLN = '{"doc_type": "Amphi Pipeline", "pipelines": []}';

  it('refuses to save an .ampln job without Amphi, and sends nothing', async () => {
    model = newModel({ 'customers_fr.ampln': AMPLN });
    const form = {
      ...defaultFormState('Europe/Paris', new Date(), 'customers_fr.ampln'),
      name: 'French customers'
    };
    const saving = model.saveJob(form, 'create');
    await expect(saving).rejects.toBeInstanceOf(PipelineCodeError);
    await expect(saving).rejects.toThrow('pipeline editor is not installed');
    await expect(saving).rejects.toThrow('customers_fr.ampln');
    expect(server.writes()).toEqual([]);
  });

  it("sends the code Amphi's command generates from the file's text", async () => {
    model = newModel({ 'customers_fr.ampln': AMPLN });
    const seen: string[] = [];
    commands.addCommand(GENERATE_CODE_COMMAND, {
      execute: args => {
        seen.push(String(args.json));
        return 'print("generated")\n';
      }
    });
    server.on('POST', 'jobs', request => ({
      body: makeJob({ ...request.body, id: 'job_amphi' })
    }));
    const form = {
      ...defaultFormState('Europe/Paris', new Date(), 'customers_fr.ampln'),
      name: 'French customers'
    };
    await model.saveJob(form, 'create');
    expect(seen).toEqual([AMPLN]);
    const [post] = server.calls('POST', 'jobs');
    expect(post.body.python_code).toBe('print("generated")\n');
    expect(post.body.pipeline_path).toBe('customers_fr.ampln');
  });

  it('says so when Amphi generates nothing', async () => {
    model = newModel({ 'x.ampln': AMPLN });
    commands.addCommand(GENERATE_CODE_COMMAND, { execute: () => undefined });
    await expect(model.generatePipelineCode('x.ampln')).rejects.toThrow(
      'Amphi generated no code for "x.ampln"'
    );
  });
});

describe('SchedulerModel runs', () => {
  it('starts a run without waiting and shows it on the job at once', async () => {
    server
      .on('GET', 'jobs', { body: { jobs: [makeJob()] } })
      .on('POST', 'run/job_a', {
        status: 202,
        body: makeRun({ id: 7, status: 'running', finished_at: null })
      });
    await model.refreshJobs();
    const run = await model.runNow('job_a');
    expect(run?.id).toBe(7);
    const [post] = server.calls('POST', 'run/job_a');
    expect(post.body).toEqual({ wait: false });
    expect(model.job('job_a')?.last_run).toEqual({
      id: 7,
      status: 'running',
      finished_at: null
    });
    expect(model.isWatched(7)).toBe(true);
  });

  it('asks for the filtered history and pages on with the cursor', async () => {
    const first = Array.from({ length: 50 }, (_, i) => makeRun({ id: 60 - i }));
    const rest = [makeRun({ id: 10 }), makeRun({ id: 9 })];
    server.on('GET', 'runs', request =>
      request.query.get('before') === '11'
        ? { body: runsPage(rest, null) }
        : { body: runsPage(first, 11) }
    );
    model.setRunsFilter({ status: 'failure', jobId: 'job_a' });
    await waitFor(() => model.runs.length === 50);
    const [list] = server.calls('GET', 'runs');
    expect(list.query.get('status')).toBe('failure');
    expect(list.query.get('job_id')).toBe('job_a');
    expect(list.query.get('limit')).toBe('50');
    expect(model.hasMoreRuns).toBe(true);
    await model.loadMoreRuns();
    expect(server.calls('GET', 'runs')[1].query.get('before')).toBe('11');
    expect(model.runs).toHaveLength(52);
    expect(model.runs.map(r => r.id)).toEqual(
      [...first, ...rest].map(r => r.id)
    );
    expect(model.hasMoreRuns).toBe(false);
  });

  it('deletes one run from the history it shows', async () => {
    server
      .on('GET', 'runs', {
        body: runsPage([makeRun({ id: 2 }), makeRun({ id: 1 })])
      })
      .on('DELETE', 'runs/2', { body: { success: true } });
    await model.refreshRuns(true);
    expect(await model.deleteRun(2)).toBe(true);
    expect(model.runs.map(r => r.id)).toEqual([1]);
  });
});

/** Wait until `condition` holds (the model's work ends on promises, not timers). */
async function waitFor(
  condition: () => boolean,
  timeoutMs = 2000
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise(resolve => setTimeout(resolve, 5));
  }
}
