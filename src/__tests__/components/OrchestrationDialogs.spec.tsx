import {
  act,
  fireEvent,
  render,
  screen,
  waitFor
} from '@testing-library/react';
import * as React from 'react';

import {
  Backfill,
  JobDetail,
  RunOverridesBody,
  SchedulerAPIError
} from '../../api';
import {
  BackfillBody,
  backfillBody,
  BackfillForm,
  backfillValues,
  canBackfill,
  RunWithBody,
  runWithBody,
  RunWithForm,
  runWithValues,
  showBackfillDialog,
  showRunWithDialog,
  zonedIso
} from '../../components/OrchestrationDialogs';
import { BackfillSection, backfillProgress } from '../../view/BackfillSection';
import { makeJob, makeRun, trans } from '../fixtures';

function detail(overrides: Partial<JobDetail> = {}): JobDetail {
  return {
    ...makeJob({ timezone: 'America/New_York' }),
    python_code: null,
    parameters: { LIMIT: 10, MODE: 'full' },
    env: { REGION: 'eu' },
    timeout_seconds: 600,
    ...overrides
  } as JobDetail;
}

function makeBackfill(overrides: Partial<Backfill> = {}): Backfill {
  return {
    id: 7,
    job_id: 'job_a',
    start: '2025-11-01T04:00:00+00:00',
    end: '2025-11-04T05:00:00+00:00',
    max_active: 1,
    status: 'running',
    total: 4,
    counts: { success: 2, running: 1 },
    pending: 1,
    message: null,
    created_at: '2025-11-05T10:00:00+00:00',
    finished_at: null,
    ...overrides
  };
}

function refused(fields: Record<string, string>): SchedulerAPIError {
  const message = Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');
  return new SchedulerAPIError(message, 400, 'url', fields);
}

describe('Run with…', () => {
  it('is prefilled with the job’s parameters, env and timeout', () => {
    const values = runWithValues(detail());
    expect(values.parameters).toEqual([
      { key: 'LIMIT', value: '10' },
      { key: 'MODE', value: 'full' }
    ]);
    expect(values.env).toEqual([{ key: 'REGION', value: 'eu' }]);
    expect(values.timeout).toBe('600');
  });

  it('sends what differs from the job, typed as the job’s values', () => {
    const job = detail();
    const values = runWithValues(job);
    values.parameters[0].value = '99';
    values.parameters.push({ key: 'EXTRA', value: 'x' });
    values.env[0].value = 'us';
    values.timeout = '30';
    expect(runWithBody(job, values, trans)).toEqual({
      body: {
        parameters: { LIMIT: 99, EXTRA: 'x' },
        env: { REGION: 'us' },
        timeout_seconds: 30
      }
    });
    expect(runWithBody(job, runWithValues(job), trans)).toEqual({ body: {} });
    expect(
      runWithBody(job, { ...runWithValues(job), timeout: '0' }, trans)
    ).toEqual({ errors: { timeout_seconds: expect.any(String) } });
  });

  it('keeps the dialog’s values and shows the server’s refusal at its field', async () => {
    const sent: RunOverridesBody[] = [];
    const client = {
      startRunWith: jest.fn(async (_: string, body: RunOverridesBody) => {
        sent.push(body);
        throw refused({
          timeout_seconds: 'must be from 1 to 604800, not 999999999'
        });
      }),
      startBackfill: jest.fn()
    };
    const body = new RunWithBody(detail(), trans, client);
    body.values = { ...body.values, timeout: '999999999' };
    expect(await body.submit()).toBe(false);
    expect(sent).toEqual([{ timeout_seconds: 999999999 }]);
    expect(body.errors.timeout_seconds).toContain('604800');
    expect(body.getValue()).toBeNull();
    render(
      <RunWithForm
        values={body.values}
        errors={body.errors}
        trans={trans}
        onChange={jest.fn()}
      />
    );
    expect(screen.getByRole('alert').textContent).toContain('604800');
    expect(
      (
        document.querySelector(
          'input[name="timeout_seconds"]'
        ) as HTMLInputElement
      ).value
    ).toBe('999999999');
  });

  it('closes only once the server started the run', async () => {
    const run = makeRun({ id: 41, triggered_by: 'manual', status: 'queued' });
    const client = {
      startRunWith: jest
        .fn()
        .mockRejectedValueOnce(refused({ env: 'A: must be text' }))
        .mockResolvedValueOnce(run),
      startBackfill: jest.fn()
    };
    const shown = showRunWithDialog(detail(), trans, client);
    const accept = await waitFor(() => {
      const button = document.querySelector('.jp-Dialog .jp-mod-accept');
      expect(button).not.toBeNull();
      return button as HTMLElement;
    });
    await act(async () => {
      fireEvent.click(accept);
    });
    await waitFor(() => expect(client.startRunWith).toHaveBeenCalledTimes(1));
    // Refused: the dialog is still open, with the message at its field.
    await waitFor(() =>
      expect(document.querySelector('.jp-Dialog')?.textContent).toContain(
        'must be text'
      )
    );
    await act(async () => {
      fireEvent.click(accept);
    });
    await expect(shown).resolves.toBe(run);
    await waitFor(() =>
      expect(document.querySelector('.jp-Dialog')).toBeNull()
    );
  });
});

describe('Backfill…', () => {
  it('reads the range in the job’s zone, across a DST change', () => {
    // 01:30 happens twice in New York on 2025-11-02: the first (EDT) is taken.
    expect(zonedIso('2025-11-02T01:30', 'America/New_York')).toBe(
      '2025-11-02T05:30:00.000Z'
    );
    expect(zonedIso('2025-11-03T01:30', 'America/New_York')).toBe(
      '2025-11-03T06:30:00.000Z'
    );
    expect(zonedIso('not a time', 'UTC')).toBeNull();
    const values = backfillValues(detail(), new Date('2025-11-08T17:00:00Z'));
    expect(values).toEqual({
      start: '2025-11-01T13:00',
      end: '2025-11-08T12:00',
      maxActive: '1'
    });
    expect(
      backfillBody(detail(), { ...values, maxActive: '2' }, trans)
    ).toEqual({
      body: {
        start: '2025-11-01T17:00:00.000Z',
        end: '2025-11-08T17:00:00.000Z',
        max_active: 2
      }
    });
    expect(
      backfillBody(detail(), { ...values, start: '', maxActive: '0' }, trans)
    ).toEqual({
      errors: { start: expect.any(String), max_active: expect.any(String) }
    });
  });

  it('shows the server’s refusal at its field, with the count', async () => {
    const message =
      'the range has 4,000 fire times, more than the 1,000 a backfill may run (backfill_max_runs); split it into shorter ranges.';
    const client = {
      startRunWith: jest.fn(),
      startBackfill: jest.fn(async () => {
        throw refused({ end: message });
      })
    };
    const body = new BackfillBody(
      detail(),
      trans,
      client,
      new Date('2025-11-08T17:00:00Z')
    );
    expect(await body.submit()).toBe(false);
    expect(client.startBackfill).toHaveBeenCalledWith('job_a', {
      start: '2025-11-01T17:00:00.000Z',
      end: '2025-11-08T17:00:00.000Z',
      max_active: 1
    });
    render(
      <BackfillForm
        job={detail()}
        values={body.values}
        errors={body.errors}
        trans={trans}
        onChange={jest.fn()}
      />
    );
    const shown = document.querySelector('[data-error-for="end"]');
    expect(shown?.textContent).toContain('4,000 fire times');
    expect(
      document.querySelector('input[name="end"]')?.getAttribute('aria-invalid')
    ).toBe('true');
  });

  it('answers the backfill the server started', async () => {
    const started = makeBackfill({ status: 'queued', counts: {}, pending: 4 });
    const client = {
      startRunWith: jest.fn(),
      startBackfill: jest.fn(async () => started)
    };
    const shown = showBackfillDialog(detail(), trans, client);
    const accept = await waitFor(() => {
      const button = document.querySelector('.jp-Dialog .jp-mod-accept');
      expect(button).not.toBeNull();
      return button as HTMLElement;
    });
    await act(async () => {
      fireEvent.click(accept);
    });
    await expect(shown).resolves.toBe(started);
  });

  it('is offered for jobs with fire times only', () => {
    expect(canBackfill({ schedule_type: 'cron' })).toBe(true);
    expect(canBackfill({ schedule_type: 'interval' })).toBe(true);
    expect(canBackfill({ schedule_type: 'date', date_type: 'daily' })).toBe(
      true
    );
    expect(canBackfill({ schedule_type: 'date', date_type: 'once' })).toBe(
      false
    );
    expect(canBackfill({ schedule_type: 'trigger' })).toBe(false);
    expect(canBackfill({ schedule_type: 'file' })).toBe(false);
  });
});

describe('BackfillSection', () => {
  it('shows each backfill’s progress and cancels an active one', async () => {
    let current = makeBackfill();
    const client = {
      listBackfills: jest.fn(async () => ({ backfills: [current] })),
      cancelBackfill: jest.fn(async () => {
        current = makeBackfill({
          status: 'cancelled',
          counts: { success: 2, cancelled: 1 },
          pending: 0,
          message: 'Cancelled.'
        });
        return current;
      })
    };
    render(
      <BackfillSection
        jobId="job_a"
        timeZone="America/New_York"
        trans={trans}
        version={0}
        api={client}
      />
    );
    const progress = await screen.findByTestId('backfill-progress');
    expect(progress.textContent).toBe('1 running, 2 success, 1 to start');
    fireEvent.click(screen.getByText('Cancel'));
    await waitFor(() =>
      expect(screen.getByTestId('backfill-progress').textContent).toContain(
        '1 cancelled'
      )
    );
    expect(client.cancelBackfill).toHaveBeenCalledWith(7);
    expect(screen.queryByText('Cancel')).toBeNull();
  });

  it('words the progress of a backfill with no run yet', () => {
    expect(
      backfillProgress(makeBackfill({ counts: {}, pending: 0 }), trans)
    ).toBe('no run yet');
  });
});
