/**
 * The form's own rules: every N days at its Time, DST days at the Time
 * field, duplicate trigger conditions, what an edit leaves out, and server
 * field errors said in the form's words and units.
 */
import { fieldMessage, formFieldOf, placeFieldErrors } from '../errors';
import {
  buildScheduleSpec,
  dstNote,
  duplicateConditions,
  parseTime
} from '../form/convert';
import {
  defaultFormState,
  FormError,
  FormState,
  isFormChanged,
  jobToFormState,
  scheduleKey
} from '../form/state';

const PARIS = 'Europe/Paris';
// Wednesday 15 January 2025, 10:17:30 in Paris (UTC+1 in winter).
const NOW = new Date('2025-01-15T09:17:30.000Z');

function form(patch: Partial<FormState>): FormState {
  return {
    ...defaultFormState(PARIS, NOW, 'etl/load.py'),
    name: 'Load',
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

describe('every N days honours its Time', () => {
  it('without a start date: the next time the clock reads the Time', () => {
    const later = buildScheduleSpec(
      form({
        kind: 'every_x_days',
        intervalDays: '3',
        date: '',
        time: '18:45'
      }),
      NOW
    );
    // 18:45 is still ahead today (it is 10:17 in Paris).
    expect(later.run_date).toBe('2025-01-15T17:45:00.000Z');
    const earlier = buildScheduleSpec(
      form({
        kind: 'every_x_days',
        intervalDays: '3',
        date: '',
        time: '08:00'
      }),
      NOW
    );
    // 08:00 has passed today: from tomorrow.
    expect(earlier.run_date).toBe('2025-01-16T07:00:00.000Z');
  });

  it('with a start date: that day at the Time', () => {
    const spec = buildScheduleSpec(
      form({
        kind: 'every_x_days',
        intervalDays: '2',
        date: '2025-02-01',
        time: '06:30'
      }),
      NOW
    );
    expect(spec.run_date).toBe('2025-02-01T05:30:00.000Z');
    expect(spec.interval_days).toBe(2);
  });

  it('keeps seconds typed in the Time', () => {
    expect(parseTime('06:30:15')).toEqual([6, 30, 15]);
    const spec = buildScheduleSpec(
      form({ kind: 'once', date: '2025-02-01', time: '06:30:15' }),
      NOW
    );
    expect(spec.run_date).toBe('2025-02-01T05:30:15.000Z');
    const back = jobToFormState(
      {
        name: 'x',
        pipeline_path: 'x.py',
        schedule_type: 'date',
        date_type: 'once',
        run_date: spec.run_date,
        timezone: PARIS
      },
      'UTC',
      NOW
    );
    expect(back.time).toBe('06:30:15');
  });
});

describe('DST days at the Time field', () => {
  it('refuses a one-off time the spring-forward jump skips, at the Time field', () => {
    const error = formErrorOf(() =>
      buildScheduleSpec(
        form({ kind: 'once', date: '2025-03-30', time: '02:30' }),
        NOW
      )
    );
    expect(error.field).toBe('time');
    expect(error.message).toBe(
      '02:30 does not exist on 2025-03-30 in Europe/Paris: the clocks jump from 02:00 to 03:00. Choose another time.'
    );
    // Also as the start of every N days.
    expect(
      formErrorOf(() =>
        buildScheduleSpec(
          form({
            kind: 'every_x_days',
            date: '2025-03-30',
            time: '02:30'
          }),
          NOW
        )
      ).field
    ).toBe('time');
  });

  it('uses the first of a repeated one-off time and says which', () => {
    const repeated = form({ kind: 'once', date: '2025-10-26', time: '02:30' });
    expect(buildScheduleSpec(repeated, NOW).run_date).toBe(
      '2025-10-26T00:30:00.000Z'
    );
    expect(dstNote(repeated, NOW)).toBe(
      '02:30 happens twice on 2025-10-26 in Europe/Paris (the clocks go back): the first one is used, at UTC+02:00 (not the later one at UTC+01:00).'
    );
  });

  it('tells a daily schedule what happens on the next DST day', () => {
    const daily = form({ kind: 'daily', time: '02:30' });
    expect(dstNote(daily, NOW)).toBe(
      'On 2025-03-30 the clocks in Europe/Paris jump from 02:00 to 03:00, so 02:30 does not exist that day: it runs at 03:00.'
    );
    expect(dstNote(form({ kind: 'daily', time: '09:00' }), NOW)).toBeNull();
    // In another zone the same time is fine.
    expect(
      dstNote(form({ kind: 'daily', time: '02:30', timezone: 'UTC' }), NOW)
    ).toBeNull();
  });

  it('never carries a recurring time on a day that skips it', () => {
    // "Now" is the spring-forward Sunday: today's 02:30 does not exist, so
    // the run_date is carried by another day, still read as 02:30.
    const sunday = new Date('2025-03-30T00:10:00.000Z');
    const spec = buildScheduleSpec(
      form({ kind: 'daily', time: '02:30' }),
      sunday
    );
    expect(spec.run_date).toBe('2025-03-31T00:30:00.000Z');
  });

  it('moves with the chosen zone', () => {
    const paris = buildScheduleSpec(
      form({ kind: 'daily', time: '08:00' }),
      NOW
    );
    const tokyo = buildScheduleSpec(
      form({ kind: 'daily', time: '08:00', timezone: 'Asia/Tokyo' }),
      NOW
    );
    expect(paris.timezone).toBe(PARIS);
    expect(tokyo.timezone).toBe('Asia/Tokyo');
    expect(tokyo.run_date?.slice(11, 16)).toBe('23:00');
  });
});

describe('duplicate trigger conditions', () => {
  const conditions = [
    { job_id: 'job_a', on: 'success' as const },
    { job_id: 'job_b', on: 'success' as const },
    { job_id: 'job_a', on: 'failure' as const },
    { job_id: 'job_a', on: 'success' as const }
  ];

  it('finds a condition that repeats an earlier one (same job, same outcome)', () => {
    expect(duplicateConditions(conditions)).toEqual([3]);
    expect(duplicateConditions(conditions.slice(0, 3))).toEqual([]);
    // Rows not filled in yet are not duplicates.
    expect(
      duplicateConditions([
        { job_id: '', on: 'success' },
        { job_id: '', on: 'success' }
      ])
    ).toEqual([]);
  });

  it('refuses them at the conditions before anything is sent', () => {
    const error = formErrorOf(() =>
      buildScheduleSpec(form({ kind: 'trigger', conditions }), NOW)
    );
    expect(error.field).toBe('conditions');
    expect(error.message).toContain('Condition 4 repeats an earlier one');
  });
});

describe('what an edit compares', () => {
  it('the schedule key ignores fields the kind does not use', () => {
    const a = form({ kind: 'interval', intervalValue: '2' });
    expect(scheduleKey(a)).toBe(
      scheduleKey({ ...a, time: '23:59', name: 'Other' })
    );
    expect(scheduleKey(a)).not.toBe(scheduleKey({ ...a, intervalValue: '3' }));
    expect(scheduleKey(a)).not.toBe(scheduleKey({ ...a, timezone: 'UTC' }));
  });

  it('a form is changed once any field differs', () => {
    const a = form({});
    expect(isFormChanged(a, { ...a })).toBe(false);
    expect(isFormChanged(a, { ...a, description: 'x' })).toBe(true);
  });
});

describe('server field errors in the form words and units', () => {
  it('maps each API field to the control that produced it', () => {
    expect(formFieldOf('interval_seconds', form({ kind: 'interval' }))).toBe(
      'intervalValue'
    );
    expect(formFieldOf('run_date', form({ kind: 'once' }))).toBe('date');
    expect(formFieldOf('run_date', form({ kind: 'daily' }))).toBe('time');
    expect(formFieldOf('trigger_conditions', form({}))).toBe('conditions');
    expect(formFieldOf('timeout_seconds', form({}))).toBe('timeoutSeconds');
    expect(formFieldOf('python_code', form({}))).toBe('pipelinePath');
    expect(formFieldOf('id', form({}))).toBeNull();
  });

  it('says an interval limit in the unit chosen', () => {
    const days = form({
      kind: 'interval',
      intervalValue: '4000',
      intervalUnit: 'days'
    });
    expect(
      fieldMessage(
        'interval_seconds',
        'must be from 1 to 316224000, not 345600000',
        days
      )
    ).toBe('Choose from 1 day to 3,660 days, not 4,000 days.');
    const hours = form({
      kind: 'interval',
      intervalValue: '0',
      intervalUnit: 'hours'
    });
    expect(
      fieldMessage(
        'interval_seconds',
        'must be from 1 to 316224000, not 0',
        hours
      )
    ).toBe('Choose from 1 hour to 87,840 hours, not 0 hours.');
    expect(
      fieldMessage(
        'interval_days',
        'must be from 1 to 3660, not 5000',
        form({ kind: 'every_x_days' })
      )
    ).toBe('Choose from 1 day to 3,660 days, not 5,000 days.');
    expect(
      fieldMessage(
        'retry_delay_seconds',
        'must be from 0 to 86400, not 100000',
        form({})
      )
    ).toBe('Choose from 0 seconds to 86,400 seconds, not 100,000 seconds.');
  });

  it('says a past one-off time in the form local time and zone', () => {
    const once = form({ kind: 'once', date: '2001-01-01', time: '01:00' });
    const placed = placeFieldErrors(
      {
        message:
          'run_date: 2001-01-01T00:00:00Z is in the past; pick a future date and time for a one-off run.',
        fields: { run_date: '2001-01-01T00:00:00Z is in the past' }
      },
      once
    );
    expect(placed.fields).toEqual({
      date: '2001-01-01 01:00 (Europe/Paris) has passed; choose a future date and time.'
    });
    expect(placed.rest).toEqual([]);
  });

  it('takes API field names, JSON and server paths out of messages', () => {
    const placed = placeFieldErrors(
      {
        message: 'x',
        fields: {
          trigger_conditions:
            'give at least one condition, e.g. [{"job_id": "<another job>", "on": "success"}].',
          python_code:
            'this server does not accept generated code (allow_inline_code is off), so .ampln pipelines cannot be scheduled.',
          working_dir:
            "'/srv/lab/work/etl/x' is not a folder of the workspace.",
          id: 'use 1-100 letters'
        }
      },
      form({ kind: 'trigger' }),
      { rootDir: '/srv/lab/work' }
    );
    expect(placed.fields.conditions).toBe(
      'Add at least one condition: the job this one runs after.'
    );
    expect(placed.fields.pipelinePath).toBe(
      'This server does not accept generated code (the server setting that allows generated code is off), so .ampln pipelines cannot be scheduled.'
    );
    expect(placed.fields.workingDir).toBe(
      "'etl/x' is not a folder of the workspace."
    );
    expect(placed.rest).toEqual(['Use 1-100 letters']);
    for (const text of [...Object.values(placed.fields), ...placed.rest]) {
      expect(text).not.toMatch(/[{}[\]]|_[a-z]+_|\/srv/);
    }
  });

  it('falls back on the message parts when an answer has no fields', () => {
    const placed = placeFieldErrors(
      { message: 'timeout_seconds: must be from 1 to 604800, not 0' },
      form({})
    );
    expect(placed.fields).toEqual({
      timeoutSeconds: 'Choose from 1 second to 604,800 seconds, not 0 seconds.'
    });
  });
});
