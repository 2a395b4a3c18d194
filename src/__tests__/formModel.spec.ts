/**
 * The model's side of the form: drafts kept across the form's view, asking
 * before a changed form is discarded, edits that leave an unchanged schedule
 * out, the questions before deleting and before running stale .ampln code,
 * and files gone from the workspace. The HTTP server is faked (fakeServer.ts);
 * the questions are answered by a stand-in for the dialog.
 */
import type { Contents } from '@jupyterlab/services';
import { CommandRegistry } from '@lumino/commands';
import { Signal } from '@lumino/signaling';

import type { AskOptions } from '../model';
import { GENERATE_CODE_COMMAND, SchedulerModel } from '../model';
import { FakeServer } from './fakeServer';
import { makeConfig, makeJob, makeRun, trans } from './fixtures';

/** A contents service over a flat list of file paths (folders derived from them). */
function fakeContents(paths: string[]) {
  const fileChanged = new Signal<unknown, Contents.IChangedArgs>({});
  const contents = {
    fileChanged,
    get: async (path: string, options?: { content?: boolean }) => {
      const folder = path.replace(/\/+$/, '');
      const children = paths.filter(p =>
        folder ? p.startsWith(`${folder}/`) : !p.includes('/')
      );
      if (paths.includes(path)) {
        return { name: path, path, type: 'file', content: '{}' };
      }
      if (folder && !children.length) {
        throw Object.assign(new Error('not found'), {
          response: { status: 404 }
        });
      }
      return {
        name: folder,
        path: folder,
        type: 'directory',
        content: options?.content
          ? children
              .filter(
                p => !p.slice(folder ? folder.length + 1 : 0).includes('/')
              )
              .map(p => ({ name: p.split('/').pop(), path: p, type: 'file' }))
          : null
      };
    }
  };
  return { contents, fileChanged, paths };
}

let server: FakeServer;
let asked: AskOptions[];
let answer: string | null;
let files: ReturnType<typeof fakeContents>;
let commands: CommandRegistry;
let model: SchedulerModel;

beforeEach(() => {
  server = new FakeServer();
  server.on('GET', 'config', { body: makeConfig() });
  server.install();
  asked = [];
  answer = null;
  files = fakeContents(['etl/load.py', 'top.py']);
  commands = new CommandRegistry();
  model = new SchedulerModel({
    contents: files.contents as unknown as Contents.IManager,
    commands,
    trans,
    pollIntervalSeconds: 3600,
    ask: async options => {
      asked.push(options);
      return answer;
    }
  });
});

afterEach(() => {
  model.dispose();
  server.uninstall();
});

describe('form drafts', () => {
  it('keeps what was typed while the form is open, and drops it when it goes', async () => {
    await model.showNewJobForm('etl/load.py');
    const view = model.view;
    if (view.kind !== 'form') {
      throw new Error('no form');
    }
    expect(model.formDraft).toEqual(view.initial);
    expect(model.isFormChanged).toBe(false);
    model.setFormDraft({ ...view.initial, name: 'Half typed' });
    expect(model.formDraft?.name).toBe('Half typed');
    expect(model.isFormChanged).toBe(true);

    // Leaving asks; keeping on editing keeps the form and its draft.
    answer = null;
    expect(await model.showRuns()).toBe(false);
    expect(model.view.kind).toBe('form');
    expect(model.formDraft?.name).toBe('Half typed');
    expect(asked.map(a => a.title)).toEqual(['Discard the changes?']);

    answer = 'discard';
    expect(await model.showJobs()).toBe(true);
    expect(model.view.kind).toBe('jobs');
    expect(model.formDraft).toBeNull();
  });

  it('does not ask when nothing changed', async () => {
    await model.showNewJobForm();
    expect(await model.showJobs()).toBe(true);
    // Opening another form over an unchanged one does not ask either.
    await model.showNewJobForm();
    await model.showNewJobForm('top.py');
    expect(asked).toEqual([]);
  });
});

describe('editing', () => {
  it('leaves an unchanged schedule out of the PUT (a fired one-off keeps its date)', async () => {
    const fired = makeJob({
      schedule_type: 'date',
      date_type: 'once',
      run_date: '2020-01-01T08:00:00Z',
      next_run_time: null
    });
    server
      .on('GET', 'jobs', { body: { jobs: [fired] } })
      .on('GET', 'jobs/job_a', { body: { ...fired, python_code: null } })
      .on('PUT', 'jobs/job_a', request => ({
        body: { ...fired, ...request.body }
      }));
    await model.refreshJobs();
    await model.showEditForm('job_a');
    const view = model.view;
    if (view.kind !== 'form') {
      throw new Error('no form');
    }
    await model.saveJob({ ...view.initial, name: 'Renamed' }, 'edit', 'job_a');
    const [put] = server.calls('PUT', 'jobs/job_a');
    expect(put.body.name).toBe('Renamed');
    for (const field of [
      'schedule_type',
      'date_type',
      'run_date',
      'timezone'
    ]) {
      expect(put.body).not.toHaveProperty(field);
    }

    // A new date is a reschedule: the schedule goes with it.
    await model.showEditForm('job_a');
    const again = model.view;
    if (again.kind !== 'form') {
      throw new Error('no form');
    }
    await model.saveJob(
      { ...again.initial, date: '2031-05-01', time: '09:00' },
      'edit',
      'job_a'
    );
    const second = server.calls('PUT', 'jobs/job_a')[1];
    expect(second.body.schedule_type).toBe('date');
    expect(second.body.run_date).toBe('2031-05-01T07:00:00.000Z');
  });
});

describe('questions before deleting', () => {
  it('a job: says its run history and logs go with it', async () => {
    answer = 'delete';
    expect(await model.confirmDeleteJob(makeJob({ name: 'Doomed' }))).toBe(
      true
    );
    expect(asked[0].body).toContain('"Doomed"');
    expect(asked[0].body).toContain(
      'its whole run history and logs are deleted with it'
    );
    answer = null;
    expect(await model.confirmDeleteJob(makeJob())).toBe(false);
  });

  it('a run: by its number and job, and Cancel keeps it', async () => {
    answer = null;
    expect(
      await model.confirmDeleteRun(makeRun({ id: 12, job_name: 'Report' }))
    ).toBe(false);
    expect(asked[0].title).toBe('Delete run');
    expect(asked[0].body).toBe(
      'Delete run 12 of "Report" and its log? This cannot be undone.'
    );
    answer = 'delete';
    expect(await model.confirmDeleteRun(7)).toBe(true);
    expect(asked[1].body).toContain('Delete run 7');
    expect(server.writes()).toEqual([]);
  });
});

describe('Run now on a stale .ampln snapshot', () => {
  const stale = makeJob({
    pipeline_path: 'flow.ampln',
    code_hash: 'abc',
    pipeline_changed: true
  });

  beforeEach(async () => {
    files.paths.push('flow.ampln');
    commands.addCommand(GENERATE_CODE_COMMAND, {
      execute: () => 'print("fresh")\n'
    });
    server
      .on('GET', 'jobs', { body: { jobs: [stale] } })
      .on('POST', 'run/job_a', {
        status: 202,
        body: makeRun({ id: 9, status: 'running', finished_at: null })
      });
    await model.refreshJobs();
  });

  it('asks, and Cancel starts nothing', async () => {
    answer = null;
    expect(await model.runNow('job_a')).toBeNull();
    expect(asked[0].buttons.map(b => b.label)).toEqual([
      'Cancel',
      'Run the stored code',
      'Regenerate code and run'
    ]);
    expect(server.calls('POST', 'run/job_a')).toEqual([]);
    expect(model.isStarting('job_a')).toBe(false);
  });

  it('"Run the stored code" sends no code', async () => {
    answer = 'stored';
    expect((await model.runNow('job_a'))?.id).toBe(9);
    const [post] = server.calls('POST', 'run/job_a');
    expect(post.body).toEqual({ wait: false });
  });

  it('"Regenerate code and run" sends the newly generated code', async () => {
    answer = 'regenerate';
    await model.runNow('job_a');
    const [post] = server.calls('POST', 'run/job_a');
    expect(post.body.python_code).toBe('print("fresh")\n');
  });
});

describe('files gone from the workspace', () => {
  it('flags a job whose file is missing, from one listing per folder', async () => {
    const jobs = [
      makeJob({ id: 'job_a', pipeline_path: 'etl/load.py' }),
      makeJob({ id: 'job_b', pipeline_path: 'etl/gone.py' }),
      makeJob({ id: 'job_c', pipeline_path: 'nowhere/x.py' }),
      makeJob({ id: 'job_d', pipeline_path: 'top.py' })
    ];
    server.on('GET', 'jobs', { body: { jobs } });
    const flagged = new Promise<void>(resolve => {
      model.files.missingChanged.connect(() => {
        if (model.fileMissing(jobs[1])) {
          resolve();
        }
      });
    });
    await model.refreshJobs();
    await flagged;
    expect(jobs.map(j => model.fileMissing(j))).toEqual([
      false,
      true,
      true,
      false
    ]);

    // The file browser deletes top.py: the folder is listed again.
    const cleared = new Promise<void>(resolve => {
      model.files.missingChanged.connect(() => {
        if (model.fileMissing(jobs[3])) {
          resolve();
        }
      });
    });
    files.paths.splice(files.paths.indexOf('top.py'), 1);
    files.fileChanged.emit({
      type: 'delete',
      oldValue: { path: 'top.py' },
      newValue: null
    });
    await cleared;
    expect(model.fileMissing(jobs[3])).toBe(true);
  });
});
