/**
 * Deadlines and alert channels in the job form (Advanced section), on a real
 * SchedulerModel whose server is faked at fetch: what a person sets becomes
 * the JobSpec fields, the server's field errors show at the fields, an
 * edited job reads its values back; the job detail shows the deadline; a
 * run link's address names the run to open.
 */
import { fireEvent, render, waitFor } from '@testing-library/react';
import type { Contents } from '@jupyterlab/services';
import { CommandRegistry } from '@lumino/commands';
import * as React from 'react';

import { JobForm } from '../../components/JobForm';
import { buildJobSpec, countAdvanced } from '../../form/convert';
import { defaultFormState, jobToFormState } from '../../form/state';
import { SchedulerModel } from '../../model';
import { runIdFromSearch } from '../../runLink';
import { Definition } from '../../view/JobDetail';
import { FakeServer } from '../fakeServer';
import { makeConfig, makeJob, trans } from '../fixtures';

let server: FakeServer;
let model: SchedulerModel;

beforeAll(() => {
  // jsdom has no layout: the form scrolls its first invalid field into view.
  Element.prototype.scrollIntoView = jest.fn();
});

beforeEach(() => {
  server = new FakeServer()
    .on('GET', 'config', { body: makeConfig() })
    .on('GET', 'jobs', { body: { jobs: [] } })
    .on('POST', 'schedule/preview', {
      body: {
        description: 'At 05:00',
        next_run_times: ['2030-01-15T05:00:00+01:00'],
        timezone: 'Europe/Paris',
        trigger: 'cron[0 5 * * *]'
      }
    });
  server.install();
  model = new SchedulerModel({
    contents: {
      get: async (path: string) => ({ path, type: 'file', content: '{}' })
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

function input(container: HTMLElement, name: string): HTMLInputElement {
  const el = container.querySelector(`[name="${name}"]`);
  if (!el) {
    throw new Error(`no field ${name}`);
  }
  return el as HTMLInputElement;
}

function type(container: HTMLElement, name: string, value: string): void {
  fireEvent.change(input(container, name), { target: { value } });
}

function newJobForm() {
  const initial = {
    ...defaultFormState('Europe/Paris', new Date(), 'etl/load.py'),
    name: 'Nightly load'
  };
  return render(
    <JobForm
      model={model}
      trans={trans}
      mode="create"
      initial={initial}
      onCancel={jest.fn()}
    />
  );
}

describe('deadlines and alerts in the job form', () => {
  it('sends the deadline, max duration, channels and what alerts', async () => {
    server.on('POST', 'jobs', request => ({
      status: 201,
      body: makeJob({ ...request.body, id: 'job_new' })
    }));
    const { container } = newJobForm();
    const section = container.querySelector(
      '[data-testid="deadlines-and-alerts"]'
    ) as HTMLElement;
    expect(section.textContent).toContain('Europe/Paris');
    type(container, 'deadline_time', '07:30');
    type(container, 'max_duration_minutes', '45');
    type(container, 'slack_webhook_url', 'https://hooks.example/slack');
    type(container, 'alert_emails', 'ops@example.org, data@example.org');
    fireEvent.click(input(container, 'alert_on_recovery'));
    expect(input(container, 'alert_on_failure').checked).toBe(true);
    expect(input(container, 'alert_on_recovery').checked).toBe(false);
    fireEvent.submit(container.querySelector('form') as HTMLFormElement);

    await waitFor(() => expect(server.calls('POST', 'jobs')).toHaveLength(1));
    const [post] = server.calls('POST', 'jobs');
    expect(post.body.deadline_time).toBe('07:30');
    expect(post.body.max_duration_minutes).toBe(45);
    expect(post.body.slack_webhook_url).toBe('https://hooks.example/slack');
    expect(post.body.alert_emails).toEqual([
      'ops@example.org',
      'data@example.org'
    ]);
    expect(post.body.alert_on).toEqual(['failure', 'deadline']);
  });

  it('shows the server’s field errors at the deadline fields', async () => {
    server.on('POST', 'jobs', {
      status: 400,
      body: {
        error:
          "deadline_time: '7:3' is not a time of day as HH:MM or HH:MM:SS (00:00 to 23:59); alert_emails: 'ops' is not an e-mail address",
        fields: {
          deadline_time:
            "'7:3' is not a time of day as HH:MM or HH:MM:SS (00:00 to 23:59)",
          alert_emails: "'ops' is not an e-mail address"
        }
      }
    });
    const { container } = newJobForm();
    type(container, 'deadline_time', '7:3');
    type(container, 'alert_emails', 'ops');
    fireEvent.submit(container.querySelector('form') as HTMLFormElement);

    const at = (field: string) =>
      container.querySelector(
        `[data-field="${field}"] [data-testid="field-error"]`
      )?.textContent ?? '';
    await waitFor(() => expect(at('deadline_time')).toContain('HH:MM'));
    expect(at('alert_emails')).toContain('is not an e-mail address');
    expect(at('max_duration_minutes')).toBe('');
    expect(
      (
        container.querySelector(
          '[data-testid="advanced"]'
        ) as HTMLDetailsElement
      ).open
    ).toBe(true);
    expect(input(container, 'deadline_time').getAttribute('aria-invalid')).toBe(
      'true'
    );
  });

  it('refuses a max duration that is not a whole number before asking', async () => {
    const { container } = newJobForm();
    type(container, 'max_duration_minutes', '2.5');
    fireEvent.submit(container.querySelector('form') as HTMLFormElement);
    await waitFor(() =>
      expect(
        container.querySelector(
          '[data-field="max_duration_minutes"] [data-testid="field-error"]'
        )
      ).not.toBeNull()
    );
    expect(server.calls('POST', 'jobs')).toHaveLength(0);
  });

  it('reads an edited job back, and an emptied deadline is cleared', async () => {
    const job = makeJob({
      deadline_time: '06:45:30',
      max_duration_minutes: 90,
      slack_webhook_url: 'https://hooks.example/s',
      alert_emails: ['a@example.org', 'b@example.org'],
      alert_on: ['deadline']
    });
    server
      .on('GET', 'jobs', { body: { jobs: [job] } })
      .on('PUT', 'jobs/job_a', request => ({
        body: { ...job, ...request.body }
      }));
    await model.refreshJobs();
    const initial = jobToFormState(job, 'Europe/Paris');
    expect(countAdvanced(initial)).toBe(5);
    const { container } = render(
      <JobForm
        model={model}
        trans={trans}
        mode="edit"
        jobId="job_a"
        initial={initial}
        onCancel={jest.fn()}
      />
    );
    expect(input(container, 'deadline_time').value).toBe('06:45:30');
    expect(input(container, 'max_duration_minutes').value).toBe('90');
    expect(input(container, 'alert_emails').value).toBe(
      'a@example.org, b@example.org'
    );
    expect(input(container, 'alert_on_deadline').checked).toBe(true);
    expect(input(container, 'alert_on_failure').checked).toBe(false);
    type(container, 'deadline_time', '');
    fireEvent.click(input(container, 'alert_on_failure'));
    fireEvent.click(input(container, 'alert_on_recovery'));
    fireEvent.submit(container.querySelector('form') as HTMLFormElement);
    await waitFor(() =>
      expect(server.calls('PUT', 'jobs/job_a')).toHaveLength(1)
    );
    const [put] = server.calls('PUT', 'jobs/job_a');
    expect(put.body.deadline_time).toBeNull();
    expect(put.body.alert_on).toBeNull(); // all three: the server's setting
    expect(put.body.max_duration_minutes).toBe(90);
  });

  it('a new job with nothing set sends none of the fields', () => {
    const spec = buildJobSpec({
      ...defaultFormState('Europe/Paris', new Date(), 'etl/load.py'),
      name: 'x'
    }) as unknown as Record<string, unknown>;
    for (const field of [
      'deadline_time',
      'max_duration_minutes',
      'slack_webhook_url',
      'alert_emails',
      'alert_on'
    ]) {
      expect(spec).not.toHaveProperty(field);
    }
  });
});

describe('the job detail', () => {
  it('shows the deadline, the max duration and what alerts', () => {
    const job = {
      ...makeJob({
        timezone: 'America/New_York',
        deadline_time: '07:00',
        max_duration_minutes: 90,
        alert_on: ['failure', 'deadline'],
        alert_emails: ['ops@example.org']
      }),
      python_code: null
    };
    const { container } = render(<Definition job={job} trans={trans} />);
    const rows = Array.from(container.querySelectorAll('dt')).map(dt => [
      dt.textContent,
      dt.nextElementSibling?.textContent
    ]);
    expect(rows).toContainEqual([
      'Deadline',
      'succeeded by 07:00 (America/New_York) each day'
    ]);
    expect(rows).toContainEqual(['Max duration', '1 h 30 min']);
    expect(rows).toContainEqual(['Alerts on', 'failure, deadline']);
    expect(rows).toContainEqual(['Alert e-mails', 'ops@example.org']);
    const plain = render(
      <Definition job={{ ...makeJob(), python_code: null }} trans={trans} />
    );
    expect(plain.container.textContent).not.toContain('Deadline');
  });
});

describe('run links', () => {
  it('names the run a link opens', () => {
    expect(runIdFromSearch('?pipeline-scheduler-run=42')).toBe(42);
    expect(runIdFromSearch('?reset&pipeline-scheduler-run=7')).toBe(7);
    expect(runIdFromSearch('?pipeline-scheduler-run=abc')).toBeNull();
    expect(runIdFromSearch('?pipeline-scheduler-run=0')).toBeNull();
    expect(runIdFromSearch('')).toBeNull();
  });
});
