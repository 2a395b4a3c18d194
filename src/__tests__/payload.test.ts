/**
 * Contract tests: the JobSpec payload each form state produces, against the
 * field names and value shapes of DESIGN.md section 4 / docs/api.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  buildJobSpec,
  buildScheduleSpec,
  defaultFormState,
  defaultJobName,
  FormError,
  FormState,
  isAmplnPath,
  isPipelinePath,
  jobToFormState,
  JobSpec,
  splitInterval,
  wallTimeInZone,
  zonedWallTimeToDate
} from '../payload';

const PARIS = 'Europe/Paris';
// Wednesday 15 January 2025, 10:17:30 in Paris (UTC+1 in winter).
const NOW = new Date('2025-01-15T09:17:30.000Z');

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Every field name the contract allows in a JobSpec. */
const CONTRACT_FIELDS = new Set([
  'name',
  'pipeline_path',
  'python_code',
  'id',
  'schedule_type',
  'date_type',
  'run_date',
  'interval_days',
  'interval_seconds',
  'cron_expression',
  'logical_operator',
  'trigger_conditions',
  'timezone',
  'paused',
  'description',
  'max_instances',
  'coalesce',
  'misfire_grace_time'
]);

function form(patch: Partial<FormState>): FormState {
  return {
    ...defaultFormState(PARIS, NOW, 'etl/load.py'),
    name: 'Nightly load',
    ...patch
  };
}

function spec(patch: Partial<FormState>): JobSpec {
  return buildJobSpec(form(patch), NOW);
}

function assertOnlyContractFields(payload: object): void {
  for (const key of Object.keys(payload)) {
    assert.ok(CONTRACT_FIELDS.has(key), `unexpected field ${key}`);
  }
}

/** The wall-clock reading of an ISO instant in Paris. */
function parisWall(iso: string) {
  return wallTimeInZone(new Date(iso), PARIS);
}

describe('time zone arithmetic', () => {
  it('reads wall time in a zone', () => {
    const wall = wallTimeInZone(NOW, PARIS);
    assert.deepEqual(wall, {
      year: 2025,
      month: 1,
      day: 15,
      hour: 10,
      minute: 17,
      weekday: 3
    });
  });

  it('turns a wall time into the instant, across DST', () => {
    assert.equal(
      zonedWallTimeToDate(2025, 1, 15, 8, 30, PARIS).toISOString(),
      '2025-01-15T07:30:00.000Z'
    );
    assert.equal(
      zonedWallTimeToDate(2025, 7, 15, 8, 30, PARIS).toISOString(),
      '2025-07-15T06:30:00.000Z'
    );
    assert.equal(
      zonedWallTimeToDate(2025, 7, 15, 8, 30, 'America/New_York').toISOString(),
      '2025-07-15T12:30:00.000Z'
    );
    assert.equal(
      zonedWallTimeToDate(2025, 3, 1, 23, 59, 'UTC').toISOString(),
      '2025-03-01T23:59:00.000Z'
    );
  });
});

describe('common fields', () => {
  it('sends name, pipeline_path, description, paused and the IANA zone', () => {
    const payload = spec({ kind: 'cron', cronExpression: '*/5 * * * *' });
    assertOnlyContractFields(payload);
    assert.equal(payload.name, 'Nightly load');
    assert.equal(payload.pipeline_path, 'etl/load.py');
    assert.equal(payload.timezone, PARIS);
    assert.equal(payload.paused, false);
    assert.equal(payload.description, '');
    assert.equal(payload.python_code, undefined);
    assert.equal(payload.id, undefined);
  });

  it('trims the name and drops a leading slash of the path', () => {
    const payload = spec({ name: '  Load  ', pipelinePath: '/etl/load.py' });
    assert.equal(payload.name, 'Load');
    assert.equal(payload.pipeline_path, 'etl/load.py');
  });

  it('refuses an empty name or path at their fields', () => {
    assert.throws(
      () => spec({ name: '  ' }),
      (e: unknown) => e instanceof FormError && e.field === 'name'
    );
    assert.throws(
      () => spec({ pipelinePath: '' }),
      (e: unknown) => e instanceof FormError && e.field === 'pipelinePath'
    );
  });

  it('sends paused when asked', () => {
    assert.equal(spec({ paused: true }).paused, true);
  });
});

describe('schedule types', () => {
  it('once: date/once with the UTC ISO of the chosen wall time', () => {
    const payload = spec({ kind: 'once', date: '2030-01-15', time: '08:30' });
    assertOnlyContractFields(payload);
    assert.equal(payload.schedule_type, 'date');
    assert.equal(payload.date_type, 'once');
    assert.match(payload.run_date!, ISO_UTC);
    assert.equal(payload.run_date, '2030-01-15T07:30:00.000Z');
    assert.equal(payload.interval_days, undefined);
    assert.equal(payload.cron_expression, undefined);
  });

  it('once: a summer date carries the summer offset', () => {
    const payload = spec({ kind: 'once', date: '2030-07-15', time: '08:30' });
    assert.equal(payload.run_date, '2030-07-15T06:30:00.000Z');
  });

  it('once: bad date or time is caught at its field', () => {
    assert.throws(
      () => spec({ kind: 'once', date: '2030-02-30' }),
      (e: unknown) => e instanceof FormError && e.field === 'date'
    );
    assert.throws(
      () => spec({ kind: 'once', time: '25:00' }),
      (e: unknown) => e instanceof FormError && e.field === 'time'
    );
  });

  it('daily: date/daily whose run_date reads the chosen time in the zone', () => {
    const payload = spec({ kind: 'daily', time: '08:30' });
    assertOnlyContractFields(payload);
    assert.equal(payload.schedule_type, 'date');
    assert.equal(payload.date_type, 'daily');
    assert.match(payload.run_date!, ISO_UTC);
    const wall = parisWall(payload.run_date!);
    assert.equal(wall.hour, 8);
    assert.equal(wall.minute, 30);
    assert.equal(payload.timezone, PARIS);
  });

  it('weekly: run_date falls on the chosen weekday at the chosen time', () => {
    for (const weekday of [0, 1, 2, 3, 4, 5, 6]) {
      const payload = spec({ kind: 'weekly', weekday, time: '18:05' });
      assert.equal(payload.schedule_type, 'date');
      assert.equal(payload.date_type, 'weekly');
      const wall = parisWall(payload.run_date!);
      assert.equal(wall.weekday, weekday);
      assert.equal(wall.hour, 18);
      assert.equal(wall.minute, 5);
    }
  });

  it('monthly: run_date falls on the chosen day of the month', () => {
    for (const dayOfMonth of [1, 15, 28, 29, 30, 31]) {
      const payload = spec({ kind: 'monthly', dayOfMonth, time: '06:00' });
      assert.equal(payload.schedule_type, 'date');
      assert.equal(payload.date_type, 'monthly');
      const wall = parisWall(payload.run_date!);
      assert.equal(wall.day, dayOfMonth);
      assert.equal(wall.hour, 6);
    }
  });

  it('every N days: interval_days as a number, optional start', () => {
    const withStart = spec({
      kind: 'every_x_days',
      intervalDays: '3',
      date: '2030-01-15',
      time: '08:30'
    });
    assertOnlyContractFields(withStart);
    assert.equal(withStart.schedule_type, 'date');
    assert.equal(withStart.date_type, 'every_x_days');
    assert.strictEqual(withStart.interval_days, 3);
    assert.equal(withStart.run_date, '2030-01-15T07:30:00.000Z');

    const withoutStart = spec({
      kind: 'every_x_days',
      intervalDays: ' 7 ',
      date: '',
      time: ''
    });
    assert.strictEqual(withoutStart.interval_days, 7);
    assert.equal('run_date' in withoutStart, false);
  });

  it('every N days: text is caught at the field, 0 is left to the server', () => {
    assert.throws(
      () => spec({ kind: 'every_x_days', intervalDays: 'three' }),
      (e: unknown) => e instanceof FormError && e.field === 'intervalDays'
    );
    assert.strictEqual(
      spec({ kind: 'every_x_days', intervalDays: '0' }).interval_days,
      0
    );
  });

  it('interval: interval_seconds in seconds whatever the unit', () => {
    const cases: [string, FormState['intervalUnit'], number][] = [
      ['45', 'seconds', 45],
      ['5', 'minutes', 300],
      ['2', 'hours', 7200],
      ['1', 'days', 86400]
    ];
    for (const [value, unit, seconds] of cases) {
      const payload = spec({
        kind: 'interval',
        intervalValue: value,
        intervalUnit: unit
      });
      assertOnlyContractFields(payload);
      assert.equal(payload.schedule_type, 'interval');
      assert.strictEqual(payload.interval_seconds, seconds);
      assert.equal(payload.date_type, undefined);
      assert.equal(payload.run_date, undefined);
    }
  });

  it('interval: a fraction is caught at the field', () => {
    assert.throws(
      () => spec({ kind: 'interval', intervalValue: '1.5' }),
      (e: unknown) => e instanceof FormError && e.field === 'intervalValue'
    );
  });

  it('cron: cron_expression as typed, whitespace normalised', () => {
    const payload = spec({ kind: 'cron', cronExpression: '  */5   * * * * ' });
    assertOnlyContractFields(payload);
    assert.equal(payload.schedule_type, 'cron');
    assert.equal(payload.cron_expression, '*/5 * * * *');
    const six = spec({ kind: 'cron', cronExpression: '30 */5 * * * *' });
    assert.equal(six.cron_expression, '30 */5 * * * *');
    // A bad expression is sent as is: the server's message says what is wrong.
    assert.equal(
      spec({ kind: 'cron', cronExpression: 'not a cron' }).cron_expression,
      'not a cron'
    );
  });

  it('trigger: logical_operator and trigger_conditions {job_id, on}', () => {
    const payload = buildJobSpec(
      form({
        kind: 'trigger',
        logicalOperator: 'AND',
        conditions: [
          { job_id: 'job_a', on: 'success' },
          { job_id: 'job_b', on: 'failure' },
          { job_id: '', on: 'success' },
          { job_id: 'job_self', on: 'success' }
        ]
      }),
      NOW,
      'job_self'
    );
    assertOnlyContractFields(payload);
    assert.equal(payload.schedule_type, 'trigger');
    assert.equal(payload.logical_operator, 'AND');
    assert.deepEqual(payload.trigger_conditions, [
      { job_id: 'job_a', on: 'success' },
      { job_id: 'job_b', on: 'failure' }
    ]);
    assert.equal(payload.run_date, undefined);
  });

  it('trigger: OR by default', () => {
    const payload = spec({
      kind: 'trigger',
      conditions: [{ job_id: 'job_a', on: 'success' }]
    });
    assert.equal(payload.logical_operator, 'OR');
  });

  it('preview payload has the schedule fields only', () => {
    const preview = buildScheduleSpec(
      form({ kind: 'cron', cronExpression: '0 8 * * *' }),
      NOW
    );
    assert.deepEqual(preview, {
      schedule_type: 'cron',
      cron_expression: '0 8 * * *',
      timezone: PARIS
    });
  });

  it('serialises to JSON with the same values', () => {
    const payload = spec({ kind: 'every_x_days', intervalDays: '2' });
    const roundTrip = JSON.parse(JSON.stringify(payload));
    assert.deepEqual(roundTrip, payload);
    assert.equal(typeof roundTrip.interval_days, 'number');
  });
});

describe('job -> form -> job', () => {
  const base = {
    name: 'Load',
    pipeline_path: 'etl/load.py',
    timezone: PARIS,
    paused: false,
    description: 'd'
  };

  it('round-trips every schedule type', () => {
    const jobs = [
      {
        ...base,
        schedule_type: 'date' as const,
        date_type: 'once' as const,
        run_date: '2030-01-15T07:30:00.000Z'
      },
      {
        ...base,
        schedule_type: 'date' as const,
        date_type: 'daily' as const,
        run_date: '2025-01-15T07:30:00.000Z'
      },
      {
        ...base,
        schedule_type: 'date' as const,
        date_type: 'every_x_days' as const,
        interval_days: 4,
        run_date: '2030-01-15T07:30:00.000Z'
      },
      { ...base, schedule_type: 'interval' as const, interval_seconds: 5400 },
      { ...base, schedule_type: 'cron' as const, cron_expression: '0 6 * * 1' },
      {
        ...base,
        schedule_type: 'trigger' as const,
        logical_operator: 'AND' as const,
        trigger_conditions: [{ job_id: 'job_a', on: 'failure' as const }]
      }
    ];
    for (const job of jobs) {
      const state = jobToFormState(job, 'UTC', NOW);
      const again = buildJobSpec(state, NOW);
      for (const [key, value] of Object.entries(job)) {
        assert.deepEqual(
          (again as any)[key],
          value,
          `${job.schedule_type}/${(job as any).date_type}: ${key}`
        );
      }
    }
  });

  it('reads weekly/monthly back as weekday/day of month in the job zone', () => {
    const weekly = jobToFormState(
      {
        ...base,
        schedule_type: 'date',
        date_type: 'weekly',
        run_date: '2025-01-19T23:30:00.000Z' // Monday 00:30 in Paris
      },
      'UTC',
      NOW
    );
    assert.equal(weekly.kind, 'weekly');
    assert.equal(weekly.weekday, 1);
    assert.equal(weekly.time, '00:30');
    assert.equal(weekly.timezone, PARIS);

    const monthly = jobToFormState(
      {
        ...base,
        schedule_type: 'date',
        date_type: 'monthly',
        run_date: '2025-01-30T23:00:00.000Z' // 31st 00:00 in Paris
      },
      'UTC',
      NOW
    );
    assert.equal(monthly.dayOfMonth, 31);
    const payload = buildJobSpec(monthly, NOW);
    assert.equal(parisWall(payload.run_date!).day, 31);
  });

  it('falls back to the browser zone for a job without one', () => {
    const state = jobToFormState(
      { name: 'x', pipeline_path: 'x.py', schedule_type: 'cron' },
      'Asia/Tokyo',
      NOW
    );
    assert.equal(state.timezone, 'Asia/Tokyo');
  });
});

describe('helpers', () => {
  it('splits seconds into the largest whole unit', () => {
    assert.deepEqual(splitInterval(45), ['45', 'seconds']);
    assert.deepEqual(splitInterval(120), ['2', 'minutes']);
    assert.deepEqual(splitInterval(5400), ['90', 'minutes']);
    assert.deepEqual(splitInterval(7200), ['2', 'hours']);
    assert.deepEqual(splitInterval(172800), ['2', 'days']);
  });

  it('names a job after its file', () => {
    assert.equal(defaultJobName('etl/nightly_load.py'), 'nightly_load');
    assert.equal(defaultJobName('customers_fr.ampln'), 'customers_fr');
  });

  it('knows the pipeline extensions', () => {
    assert.ok(isPipelinePath('a/b.py'));
    assert.ok(isPipelinePath('a/b.AMPLN'));
    assert.ok(!isPipelinePath('a/b.ipynb'));
    assert.ok(isAmplnPath('x.ampln'));
    assert.ok(!isAmplnPath('x.py'));
  });

  it('defaults to daily at the next full hour in the zone', () => {
    const state = defaultFormState(PARIS, NOW, 'etl/load.py');
    assert.equal(state.kind, 'daily');
    assert.equal(state.time, '11:00');
    assert.equal(state.date, '2025-01-15');
    assert.equal(state.name, 'load');
    assert.equal(state.timezone, PARIS);
  });
});
