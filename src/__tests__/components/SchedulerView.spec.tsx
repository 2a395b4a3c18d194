/**
 * The sidebar on a real SchedulerModel whose server is faked at fetch: its
 * buttons reach the right routes and it shows what the server answered.
 */
import { act, fireEvent, render, waitFor } from '@testing-library/react';
import type { Contents } from '@jupyterlab/services';
import { CommandRegistry } from '@lumino/commands';
import * as React from 'react';

import { SchedulerView } from '../../components/SchedulerView';
import { SchedulerModel } from '../../model';
import { FakeServer } from '../fakeServer';
import { makeConfig, makeJob, makeRun, runsPage, trans } from '../fixtures';

let server: FakeServer;
let model: SchedulerModel;

beforeEach(() => {
  server = new FakeServer()
    .on('GET', 'config', { body: makeConfig() })
    .on('POST', 'schedule/preview', {
      body: {
        description: 'At 03:00 every day',
        next_run_times: ['2030-01-15T03:00:00+01:00'],
        timezone: 'Europe/Paris',
        trigger: 'cron'
      }
    });
  server.install();
  model = new SchedulerModel({
    contents: {} as Contents.IManager,
    commands: new CommandRegistry(),
    trans,
    pollIntervalSeconds: 3600
  });
});

afterEach(() => {
  model.dispose();
  server.uninstall();
});

function card(container: HTMLElement, name: string): HTMLElement {
  const el = container.querySelector(
    `li.jp-scheduler-job[data-job-name="${name}"]`
  );
  if (!el) {
    throw new Error(`no card ${name}`);
  }
  return el as HTMLElement;
}

async function showJobs(jobs = [makeJob({ name: 'Pausable' })]) {
  server.on('GET', 'jobs', { body: { jobs } });
  const view = render(
    <SchedulerView model={model} trans={trans} onOpenLog={jest.fn()} />
  );
  await act(() => model.refreshJobs());
  return view;
}

describe('SchedulerView (sidebar)', () => {
  it('pauses and resumes a job from its card', async () => {
    const job = makeJob({ name: 'Pausable' });
    server
      .on('POST', 'jobs/job_a/pause', {
        body: { ...job, paused: true, next_run_time: null }
      })
      .on('POST', 'jobs/job_a/resume', { body: { ...job, paused: false } });
    const { container } = await showJobs([job]);
    const next = () =>
      card(container, 'Pausable').querySelector(
        '.jp-scheduler-nextRun'
      ) as HTMLElement;
    expect(next().dataset.nextRun).toBe(job.next_run_time);

    fireEvent.click(
      card(container, 'Pausable').querySelector(
        '[data-action="pause"]'
      ) as HTMLElement
    );
    await waitFor(() =>
      expect(
        card(container, 'Pausable').querySelector('.jp-scheduler-pausedPill')
      ).not.toBeNull()
    );
    expect(server.calls('POST', 'jobs/job_a/pause')).toHaveLength(1);
    expect(next().textContent).toBe('none while paused');

    fireEvent.click(
      card(container, 'Pausable').querySelector(
        '[data-action="resume"]'
      ) as HTMLElement
    );
    await waitFor(() =>
      expect(
        card(container, 'Pausable').querySelector('.jp-scheduler-pausedPill')
      ).toBeNull()
    );
    expect(server.calls('POST', 'jobs/job_a/resume')).toHaveLength(1);
    expect(next().dataset.nextRun).toBe(job.next_run_time);
  });

  it('duplicates a job through the form: "Copy of" its name, a new job', async () => {
    const original = makeJob({ name: 'Original' });
    server.on('POST', 'jobs', request => ({
      body: makeJob({ ...request.body, id: 'job_copy' })
    }));
    const { container } = await showJobs([original]);
    fireEvent.click(
      card(container, 'Original').querySelector(
        '[data-action="duplicate"]'
      ) as HTMLElement
    );
    const form = await waitFor(() => {
      const el = container.querySelector(
        'form.jp-scheduler-form'
      ) as HTMLFormElement;
      expect(el).not.toBeNull();
      return el;
    });
    const name = form.querySelector('input[name="name"]') as HTMLInputElement;
    expect(name.value).toBe('Copy of Original');
    fireEvent.submit(form);
    await waitFor(() =>
      expect(card(container, 'Copy of Original')).toBeTruthy()
    );
    expect(card(container, 'Original')).toBeTruthy();
    const writes = server.writes().filter(r => r.route !== 'schedule/preview');
    expect(writes.map(r => `${r.method} ${r.route}`)).toEqual(['POST jobs']);
    expect(writes[0].body.id).toBeUndefined();
    expect(writes[0].body.name).toBe('Copy of Original');
  });

  it('re-renders the jobs for a jobs change, not for a runs change', async () => {
    server
      .on('GET', 'jobs', { body: { jobs: [makeJob({ name: 'Nightly' })] } })
      .on('GET', 'runs', { body: runsPage([makeRun({ id: 3 })]) });
    let commits = 0;
    const view = render(
      <React.Profiler id="sidebar" onRender={() => commits++}>
        <SchedulerView model={model} trans={trans} onOpenLog={jest.fn()} />
      </React.Profiler>
    );
    await act(() => model.refreshJobs());
    card(view.container, 'Nightly');
    const afterJobs = commits;

    // The jobs are shown: loading the runs re-renders nothing.
    await act(() => model.refreshRuns(true));
    expect(model.runs.map(r => r.id)).toEqual([3]);
    expect(commits).toBe(afterJobs);

    await act(() => model.refreshJobs());
    expect(commits).toBeGreaterThan(afterJobs);
  });
});
