/**
 * Event triggers in the UI: the "when files arrive" schedule of the job form
 * (its payload, its errors at the glob and settle-time fields, an edit that
 * reads it back), the labels of runs started by files and webhooks, and the
 * job detail's webhook section (the URL shown once, rotate and disable ask
 * first).
 */
import { Clipboard } from '@jupyterlab/apputils';
import { Signal } from '@lumino/signaling';
import { fireEvent, render } from '@testing-library/react';
import * as React from 'react';

import type { AskOptions } from '../../ask';
import type { SchedulerAPI, WebhookToken } from '../../api';
import { triggerLabel } from '../../components/StatusBadge';
import { formFieldOf, placeFieldErrors } from '../../errors';
import { buildScheduleSpec } from '../../form/convert';
import {
  defaultFormState,
  FormError,
  FormState,
  jobToFormState,
  scheduleKey
} from '../../form/state';
import type { SchedulerModel } from '../../model';
import { SchedulerViewModel } from '../../view/viewModel';
import { WebhookSection, WebhookTokenBody } from '../../view/WebhookSection';
import { makeJob, runsPage, trans } from '../fixtures';

const NOW = new Date('2025-01-15T09:17:30.000Z');

function fileForm(patch: Partial<FormState> = {}): FormState {
  return {
    ...defaultFormState('UTC', NOW, 'etl/load.py'),
    kind: 'file',
    watchPath: 'data/incoming/*.csv',
    ...patch
  };
}

function formErrorOf(run: () => unknown): FormError {
  try {
    run();
  } catch (error) {
    if (error instanceof FormError) {
      return error;
    }
    throw error;
  }
  throw new Error('no FormError');
}

describe('the file arrival schedule in the form', () => {
  it('sends the glob and the settle time', () => {
    expect(buildScheduleSpec(fileForm({ watchDebounce: '5' }), NOW)).toEqual({
      schedule_type: 'file',
      watch_path: 'data/incoming/*.csv',
      watch_debounce_seconds: 5,
      timezone: 'UTC'
    });
    // No settle time: the server's default.
    expect(
      buildScheduleSpec(fileForm({ watchPath: '  a/*.json ' }), NOW)
    ).toEqual({
      schedule_type: 'file',
      watch_path: 'a/*.json',
      timezone: 'UTC'
    });
  });

  it('tells a missing glob or a bad settle time at its field', () => {
    expect(
      formErrorOf(() => buildScheduleSpec(fileForm({ watchPath: ' ' }), NOW))
        .field
    ).toBe('watchPath');
    expect(
      formErrorOf(() =>
        buildScheduleSpec(fileForm({ watchDebounce: '1.5' }), NOW)
      ).field
    ).toBe('watchDebounce');
  });

  it('places the server refusal of a glob at the glob field, in plain words', () => {
    const form = fileForm({ watchPath: '../x/*.csv' });
    expect(formFieldOf('watch_path', form)).toBe('watchPath');
    const placed = placeFieldErrors(
      {
        message:
          "watch_path: '../x/*.csv' leaves the workspace ('..'); only files inside it can be watched.",
        fields: {
          watch_path:
            "'../x/*.csv' leaves the workspace ('..'); only files inside it can be watched."
        }
      },
      form
    );
    expect(placed.fields.watchPath).toMatch(/leaves the workspace/);
    expect(placed.rest).toEqual([]);
    const range = placeFieldErrors(
      {
        message: 'watch_debounce_seconds: must be from 1 to 3600, not 0',
        fields: { watch_debounce_seconds: 'must be from 1 to 3600, not 0' }
      },
      form
    );
    expect(range.fields.watchDebounce).toBe(
      'Choose from 1 second to 3,600 seconds, not 0 seconds.'
    );
  });

  it('reads a file job back for an edit, and its schedule key follows the glob', () => {
    const job = makeJob({
      schedule_type: 'file',
      cron_expression: null,
      watch_path: 'in/**/*.csv',
      watch_debounce_seconds: 10
    });
    const form = jobToFormState(job, 'UTC', NOW);
    expect(form.kind).toBe('file');
    expect(form.watchPath).toBe('in/**/*.csv');
    expect(form.watchDebounce).toBe('10');
    expect(scheduleKey(form)).not.toBe(
      scheduleKey({ ...form, watchPath: 'in/*.csv' })
    );
  });
});

describe('runs started by events', () => {
  it('have labels of their own', () => {
    expect(triggerLabel(trans, 'file')).toBe('files arrived');
    expect(triggerLabel(trans, 'webhook')).toBe('webhook');
  });
});

describe('the webhook section', () => {
  it('offers to enable a webhook, then rotate or disable it', () => {
    const onEnable = jest.fn();
    const onDisable = jest.fn();
    const { getByTestId, container, rerender } = render(
      <WebhookSection
        enabled={false}
        trans={trans}
        onEnable={onEnable}
        onDisable={onDisable}
      />
    );
    expect(getByTestId('webhook-state').textContent).toMatch(/Not enabled/);
    expect(container.querySelector('[data-action="disable-webhook"]')).toBe(
      null
    );
    fireEvent.click(
      container.querySelector('[data-action="enable-webhook"]') as Element
    );
    expect(onEnable).toHaveBeenCalledTimes(1);

    rerender(
      <WebhookSection
        enabled={true}
        trans={trans}
        onEnable={onEnable}
        onDisable={onDisable}
      />
    );
    expect(getByTestId('webhook-state').textContent).toMatch(/^Enabled/);
    fireEvent.click(
      container.querySelector('[data-action="rotate-webhook"]') as Element
    );
    fireEvent.click(
      container.querySelector('[data-action="disable-webhook"]') as Element
    );
    expect(onEnable).toHaveBeenCalledTimes(2);
    expect(onDisable).toHaveBeenCalledTimes(1);
  });

  it('shows the URL once, with a copy button', () => {
    const copy = jest
      .spyOn(Clipboard, 'copyToSystem')
      .mockImplementation(() => undefined);
    const token: WebhookToken = {
      job_id: 'job_a',
      token: 'tok',
      path: 'pipeline-scheduler/hooks/job_a/tok',
      url: 'http://localhost:8888/pipeline-scheduler/hooks/job_a/tok'
    };
    const { getByTestId, container } = render(
      <WebhookTokenBody token={token} trans={trans} />
    );
    expect(getByTestId('webhook-url').textContent).toBe(token.url);
    const button = container.querySelector(
      '[data-action="copy-webhook-url"]'
    ) as HTMLElement;
    fireEvent.click(button);
    expect(copy).toHaveBeenCalledWith(token.url);
    expect(button.textContent).toBe('Copied');
    copy.mockRestore();
  });
});

describe('SchedulerViewModel webhook actions', () => {
  function setUp(enabled: boolean, answer: string | null) {
    let isEnabled = enabled;
    const job = () => ({
      ...makeJob({ id: 'job_a' }),
      webhook_enabled: isEnabled,
      python_code: null
    });
    const token: WebhookToken = {
      job_id: 'job_a',
      token: 'secret',
      path: 'pipeline-scheduler/hooks/job_a/secret',
      url: 'http://h/pipeline-scheduler/hooks/job_a/secret'
    };
    const api = {
      getJob: jest.fn(async () => job()),
      jobNextRuns: jest.fn(async () => ({
        job_id: 'job_a',
        timezone: 'UTC',
        description: '',
        paused: false,
        next_run_times: []
      })),
      listRuns: jest.fn(async () => runsPage([])),
      listJobVersions: jest.fn(async () => ({ versions: [] })),
      enableWebhook: jest.fn(async () => {
        isEnabled = true;
        return token;
      }),
      disableWebhook: jest.fn(async () => {
        isEnabled = false;
        return { success: true };
      })
    };
    const model = {
      jobsStore: { jobsChanged: new Signal<object, void>({}) },
      job: () => undefined,
      showError: jest.fn(),
      refreshJobs: jest.fn(async () => undefined)
    } as unknown as SchedulerModel;
    const asked: AskOptions[] = [];
    const shown: WebhookToken[] = [];
    const vm = new SchedulerViewModel({
      model,
      api: api as unknown as SchedulerAPI,
      pollIntervalSeconds: 3600,
      ask: async options => {
        asked.push(options);
        return answer;
      },
      showWebhookToken: async t => {
        shown.push(t);
      }
    });
    return { vm, api, asked, shown, token };
  }

  async function opened(vm: SchedulerViewModel): Promise<void> {
    vm.select('job_a');
    for (let i = 0; i < 10 && vm.detail?.isLoading; i++) {
      await new Promise(resolve => setTimeout(resolve, 0));
    }
  }

  it('enables without asking and shows the new URL once', async () => {
    const { vm, api, asked, shown, token } = setUp(false, null);
    await opened(vm);
    expect(await vm.enableWebhook(trans)).toBe(true);
    expect(asked).toEqual([]);
    expect(api.enableWebhook).toHaveBeenCalledWith('job_a');
    expect(shown).toEqual([token]);
    expect(vm.detail?.job?.webhook_enabled).toBe(true);
  });

  it('rotates only when confirmed', async () => {
    const cancelled = setUp(true, null);
    await opened(cancelled.vm);
    expect(await cancelled.vm.enableWebhook(trans)).toBe(false);
    expect(cancelled.asked[0].title).toBe('Rotate the webhook token?');
    expect(cancelled.api.enableWebhook).not.toHaveBeenCalled();
    expect(cancelled.shown).toEqual([]);

    const confirmed = setUp(true, 'rotate');
    await opened(confirmed.vm);
    expect(await confirmed.vm.enableWebhook(trans)).toBe(true);
    expect(confirmed.shown).toHaveLength(1);
  });

  it('disables after asking', async () => {
    const { vm, api, asked } = setUp(true, 'disable');
    await opened(vm);
    expect(await vm.disableWebhook(trans)).toBe(true);
    expect(asked[0].title).toBe('Disable the webhook?');
    expect(api.disableWebhook).toHaveBeenCalledWith('job_a');
    expect(vm.detail?.job?.webhook_enabled).toBe(false);
  });
});
