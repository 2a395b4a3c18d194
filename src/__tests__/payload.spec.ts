/**
 * Contract tests: the JobSpec payload each form state produces, against the
 * field names and value shapes of DESIGN.md section 4 / docs/api.md.
 */
import assert from 'node:assert/strict';

import { placeServerError } from '../errors';
import {
  buildJobSpec,
  buildScheduleSpec,
  buildExecutionSpec,
  countAdvanced,
  secretsChanged
} from '../form/convert';
import { parseParameterValue } from '../form/parameters';
import { JobSpec } from '../form/spec';
import {
  defaultFormState,
  FormError,
  FormState,
  jobToFormState,
  splitInterval,
  withoutStoredSecrets
} from '../form/state';
import {
  defaultJobName,
  isAmplnPath,
  isNotebookPath,
  isPipelinePath,
  notebookFileName
} from '../paths';
import { wallTimeInZone, zonedWallTimeToDate } from '../time/zoned';

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
  'misfire_grace_time',
  'catchup',
  'timeout_seconds',
  'max_retries',
  'retry_delay_seconds',
  'env',
  'secret_env',
  'parameters',
  'python_executable',
  'working_dir',
  'kernel_name',
  'webhook_url',
  'deadline_time',
  'max_duration_minutes',
  'slack_webhook_url',
  'alert_emails',
  'alert_on'
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
    assert.ok(isPipelinePath('a/b.ipynb'));
    assert.ok(!isPipelinePath('a/notes.txt'));
    assert.ok(isNotebookPath('report.IPYNB'));
    assert.ok(!isNotebookPath('report.py'));
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

describe('advanced options (execution)', () => {
  const EXECUTION_FIELDS = [
    'catchup',
    'timeout_seconds',
    'max_retries',
    'retry_delay_seconds',
    'max_instances',
    'env',
    'secret_env',
    'parameters',
    'python_executable',
    'working_dir',
    'kernel_name',
    'webhook_url',
    'deadline_time',
    'max_duration_minutes',
    'slack_webhook_url',
    'alert_emails',
    'alert_on'
  ];

  it('a new job with nothing advanced sends none of them', () => {
    const payload = spec({});
    for (const key of EXECUTION_FIELDS) {
      assert.equal(key in payload, false, key);
    }
    assert.equal(countAdvanced(form({})), 0);
  });

  it('sends every option with the names and shapes of docs/api.md', () => {
    const payload = buildJobSpec(
      form({
        pipelinePath: 'reports/daily.ipynb',
        timeoutSeconds: '600',
        maxRetries: ' 2 ',
        retryDelaySeconds: '30',
        maxInstances: '2',
        catchup: 'skip',
        env: [
          { key: 'REGION', value: 'eu-west-1' },
          { key: '', value: '' }
        ],
        secretEnv: [{ key: 'API_KEY', value: 's3cr3t', stored: false }],
        parameters: [
          { key: 'LIMIT', value: '100' },
          { key: 'DRY_RUN', value: 'true' },
          { key: 'COUNTRY', value: 'FR' }
        ],
        pythonExecutable: ' /opt/envs/etl/bin/python ',
        workingDir: '/reports',
        kernelName: 'python3',
        webhookUrl: 'https://hooks.example/x'
      }),
      NOW
    );
    assertOnlyContractFields(payload);
    assert.strictEqual(payload.timeout_seconds, 600);
    assert.strictEqual(payload.max_retries, 2);
    assert.strictEqual(payload.retry_delay_seconds, 30);
    assert.strictEqual(payload.max_instances, 2);
    assert.equal(payload.catchup, 'skip');
    assert.deepEqual(payload.env, { REGION: 'eu-west-1' });
    assert.deepEqual(payload.secret_env, { API_KEY: 's3cr3t' });
    assert.deepEqual(payload.parameters, {
      LIMIT: 100,
      DRY_RUN: true,
      COUNTRY: 'FR'
    });
    assert.equal(payload.python_executable, '/opt/envs/etl/bin/python');
    assert.equal(payload.working_dir, 'reports');
    assert.equal(payload.kernel_name, 'python3');
    assert.equal(payload.webhook_url, 'https://hooks.example/x');
    const roundTrip = JSON.parse(JSON.stringify(payload));
    assert.deepEqual(roundTrip, payload);
  });

  it('catch-up is all, latest or none (or the older run_once, skip); empty leaves the server default', () => {
    assert.equal(spec({ catchup: 'all' }).catchup, 'all');
    assert.equal(spec({ catchup: 'run_once' }).catchup, 'run_once');
    assert.equal('catchup' in spec({ catchup: '' }), false);
  });

  it('kernel_name only for a notebook', () => {
    assert.equal('kernel_name' in spec({ kernelName: 'python3' }), false);
    assert.equal(
      spec({ pipelinePath: 'n.ipynb', kernelName: ' ir ' }).kernel_name,
      'ir'
    );
  });

  it('catches text in number fields at their field; ranges are the server’s', () => {
    const cases: [Partial<FormState>, keyof FormState][] = [
      [{ timeoutSeconds: '1.5' }, 'timeoutSeconds'],
      [{ maxRetries: 'two' }, 'maxRetries'],
      [{ retryDelaySeconds: '5s' }, 'retryDelaySeconds'],
      [{ maxInstances: 'x' }, 'maxInstances']
    ];
    for (const [patch, field] of cases) {
      assert.throws(
        () => spec(patch),
        (e: unknown) => e instanceof FormError && e.field === field,
        field
      );
    }
    assert.strictEqual(spec({ timeoutSeconds: '0' }).timeout_seconds, 0);
  });

  it('refuses a value without a name and a name given twice', () => {
    assert.throws(
      () => spec({ env: [{ key: ' ', value: 'x' }] }),
      (e: unknown) => e instanceof FormError && e.field === 'env'
    );
    assert.throws(
      () =>
        spec({
          parameters: [
            { key: 'A', value: '1' },
            { key: 'A', value: '2' }
          ]
        }),
      (e: unknown) => e instanceof FormError && e.field === 'parameters'
    );
    // Names are trimmed; values are sent exactly as typed.
    assert.deepEqual(spec({ env: [{ key: ' A ', value: ' v ' }] }).env, {
      A: ' v '
    });
  });

  it('editing sends null for emptied options, so the server removes them', () => {
    const payload = buildJobSpec(form({}), NOW, 'job_1', { clearEmpty: true });
    assertOnlyContractFields(payload);
    for (const key of EXECUTION_FIELDS) {
      if (key === 'secret_env') {
        // Untouched secrets are never sent: the server keeps them.
        assert.equal(key in payload, false);
      } else {
        assert.strictEqual((payload as any)[key], null, key);
      }
    }
  });
});

describe('parameter values', () => {
  it('numbers that read back as typed, true and false; the rest is text', () => {
    assert.strictEqual(parseParameterValue('100'), 100);
    assert.strictEqual(parseParameterValue('-2.5'), -2.5);
    assert.strictEqual(parseParameterValue('0'), 0);
    assert.strictEqual(parseParameterValue('0.1'), 0.1);
    assert.strictEqual(parseParameterValue('true'), true);
    assert.strictEqual(parseParameterValue('false'), false);
    for (const text of [
      '007',
      '1.50',
      '1e3',
      'TRUE',
      'True',
      ' 5',
      '5 ',
      '',
      '12345678901234567890',
      'FR',
      'NaN',
      'Infinity',
      '0x10'
    ]) {
      assert.strictEqual(parseParameterValue(text), text, text);
    }
  });

  it('round-trip through a job keeps values and their types', () => {
    const state = jobToFormState(
      {
        name: 'p',
        pipeline_path: 'p.py',
        schedule_type: 'cron',
        cron_expression: '0 8 * * *',
        parameters: { LIMIT: 100, RATE: 0.5, DRY: false, NAME: 'x' }
      },
      PARIS,
      NOW
    );
    assert.deepEqual(buildJobSpec(state, NOW).parameters, {
      LIMIT: 100,
      RATE: 0.5,
      DRY: false,
      NAME: 'x'
    });
  });
});

describe('secret variables', () => {
  const job = {
    name: 'Secretive',
    pipeline_path: 'etl/load.py',
    schedule_type: 'cron' as const,
    cron_expression: '0 8 * * *',
    timezone: PARIS,
    secret_env_keys: ['API_KEY', 'DB_PASSWORD']
  };

  it('are read back as stored names with empty values', () => {
    const state = jobToFormState(job, PARIS, NOW);
    assert.deepEqual(state.secretEnvKeys, ['API_KEY', 'DB_PASSWORD']);
    assert.deepEqual(
      state.secretEnv.map(r => [r.key, r.value, r.stored]),
      [
        ['API_KEY', '', true],
        ['DB_PASSWORD', '', true]
      ]
    );
    assert.equal(countAdvanced(state), 1);
  });

  it('untouched: secret_env is not sent, on edit either', () => {
    const state = jobToFormState(job, PARIS, NOW);
    assert.equal(secretsChanged(state), false);
    const payload = buildJobSpec(state, NOW, 'job_1', { clearEmpty: true });
    assert.equal('secret_env' in payload, false);
  });

  it('all values typed again: the whole object is sent', () => {
    const state = jobToFormState(job, PARIS, NOW);
    state.secretEnv = state.secretEnv.map(r => ({ ...r, value: `v-${r.key}` }));
    assert.equal(secretsChanged(state), true);
    assert.deepEqual(buildExecutionSpec(state).secret_env, {
      API_KEY: 'v-API_KEY',
      DB_PASSWORD: 'v-DB_PASSWORD'
    });
  });

  it('a removed one: the others need their values again', () => {
    const state = jobToFormState(job, PARIS, NOW);
    state.secretEnv = state.secretEnv.slice(1);
    assert.equal(secretsChanged(state), true);
    assert.throws(
      () => buildExecutionSpec(state),
      (e: unknown) =>
        e instanceof FormError &&
        e.field === 'secretEnv' &&
        /DB_PASSWORD/.test(e.message)
    );
    state.secretEnv[0].value = 'pw';
    assert.deepEqual(buildExecutionSpec(state).secret_env, {
      DB_PASSWORD: 'pw'
    });
  });

  it('all removed: an empty object removes them on the server', () => {
    const state = jobToFormState(job, PARIS, NOW);
    state.secretEnv = [];
    assert.deepEqual(buildExecutionSpec(state).secret_env, {});
  });

  it('one added next to kept ones cannot keep the others', () => {
    const state = jobToFormState(job, PARIS, NOW);
    state.secretEnv.push({ key: 'TOKEN', value: 't', stored: false });
    assert.throws(
      () => buildExecutionSpec(state),
      (e: unknown) => e instanceof FormError && e.field === 'secretEnv'
    );
  });

  it('a duplicated job asks for the values again', () => {
    const state = withoutStoredSecrets(jobToFormState(job, PARIS, NOW));
    assert.equal(secretsChanged(state), true);
    assert.throws(
      () => buildJobSpec(state, NOW),
      (e: unknown) => e instanceof FormError && e.field === 'secretEnv'
    );
  });

  it('a new job without secrets sends none', () => {
    assert.equal(secretsChanged(form({})), false);
    assert.equal('secret_env' in spec({}), false);
  });
});

describe('job -> form -> job (execution options)', () => {
  it('round-trips every option', () => {
    const job = {
      name: 'Everything',
      pipeline_path: 'reports/daily.ipynb',
      schedule_type: 'cron' as const,
      cron_expression: '0 8 * * *',
      timezone: PARIS,
      paused: false,
      description: '',
      catchup: 'run_once' as const,
      timeout_seconds: 120,
      max_retries: 3,
      retry_delay_seconds: 10,
      max_instances: 1,
      env: { A: '1', B: 'two' },
      parameters: { LIMIT: 5, MODE: 'full' },
      python_executable: '/usr/bin/python3',
      working_dir: 'reports',
      kernel_name: 'python3',
      webhook_url: 'https://hooks.example/x'
    };
    const state = jobToFormState(job, 'UTC', NOW);
    assert.equal(state.env[1].value, 'two');
    assert.equal(state.parameters[0].value, '5');
    const again = buildJobSpec(state, NOW, 'job_1', { clearEmpty: true });
    for (const [key, value] of Object.entries(job)) {
      assert.deepEqual((again as any)[key], value, key);
    }
  });
});

describe('server errors at their fields', () => {
  it('places an error that starts with a field name', () => {
    assert.deepEqual(
      placeServerError(
        "working_dir: '../x' leaves the workspace ('..'); only files inside it can be scheduled."
      ),
      {
        fields: {
          workingDir:
            "working_dir: '../x' leaves the workspace ('..'); only files inside it can be scheduled."
        },
        rest: []
      }
    );
    assert.deepEqual(
      placeServerError('timeout_seconds: must be from 1 to 604800, not 0')
        .fields,
      { timeoutSeconds: 'timeout_seconds: must be from 1 to 604800, not 0' }
    );
  });

  it('splits several problems and groups them by field', () => {
    const placed = placeServerError(
      "max_retries: must be from 0 to 10, not 11; parameters.X.str: Input should be a valid string; parameters.X.int: Input should be a valid integer; env: '1A' is not a valid variable name"
    );
    assert.deepEqual(Object.keys(placed.fields).sort(), [
      'env',
      'maxRetries',
      'parameters'
    ]);
    assert.match(placed.fields.parameters!, /str.*; parameters\.X\.int/);
    assert.deepEqual(placed.rest, []);
  });

  it('leaves schedule and unknown problems to the form-wide message', () => {
    const placed = placeServerError(
      'cron_expression: wrong number of fields; got 1, expected 5 or 6'
    );
    assert.deepEqual(placed.fields, {});
    assert.deepEqual(placed.rest, [
      'cron_expression: wrong number of fields; got 1, expected 5 or 6'
    ]);
    assert.deepEqual(placeServerError('The server is unhappy.').rest, [
      'The server is unhappy.'
    ]);
  });

  it('maps every execution option', () => {
    const names: [string, keyof FormState][] = [
      ['timeout_seconds', 'timeoutSeconds'],
      ['max_retries', 'maxRetries'],
      ['retry_delay_seconds', 'retryDelaySeconds'],
      ['max_instances', 'maxInstances'],
      ['catchup', 'catchup'],
      ['env', 'env'],
      ['secret_env', 'secretEnv'],
      ['parameters', 'parameters'],
      ['python_executable', 'pythonExecutable'],
      ['working_dir', 'workingDir'],
      ['kernel_name', 'kernelName'],
      ['webhook_url', 'webhookUrl'],
      ['deadline_time', 'deadlineTime'],
      ['max_duration_minutes', 'maxDurationMinutes'],
      ['slack_webhook_url', 'slackWebhookUrl'],
      ['alert_emails', 'alertEmails'],
      ['alert_on', 'alertOn'],
      ['name', 'name'],
      ['pipeline_path', 'pipelinePath']
    ];
    for (const [server, field] of names) {
      assert.ok(placeServerError(`${server}: bad`).fields[field], server);
    }
  });
});

describe('executed notebook file name', () => {
  it('takes the server’s Content-Disposition', () => {
    assert.equal(
      notebookFileName(
        'attachment; filename="daily-run-12.ipynb"',
        'reports/daily.ipynb',
        12
      ),
      'daily-run-12.ipynb'
    );
    assert.equal(
      notebookFileName(
        "attachment; filename*=UTF-8''rapport%20%C3%A9t%C3%A9-run-3.ipynb",
        'x.ipynb',
        3
      ),
      'rapport été-run-3.ipynb'
    );
  });

  it('falls back to <name>-run-<id>.ipynb and never keeps a folder', () => {
    assert.equal(
      notebookFileName(null, 'reports/daily.ipynb', 7),
      'daily-run-7.ipynb'
    );
    assert.equal(
      notebookFileName('attachment', 'daily.ipynb', 7),
      'daily-run-7.ipynb'
    );
    assert.equal(
      notebookFileName('attachment; filename="../../evil.ipynb"', 'a.ipynb', 1),
      'evil.ipynb'
    );
  });
});
