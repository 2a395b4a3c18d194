/**
 * The job form's state and its conversion to the JobSpec payload of the REST
 * contract (docs/api.md, DESIGN.md section 4).
 *
 * This module imports nothing on purpose: it is the contract between the form
 * and the server, and it is unit-tested on its own with node's test runner.
 * The JobSpec types live here (and are re-exported by api.ts) so that the
 * field names are written down exactly once.
 */

/* ------------------------------------------------------------------ */
/* Contract types: the JSON field names of docs/api.md, unchanged.      */
/* ------------------------------------------------------------------ */

export type ScheduleType = 'date' | 'interval' | 'cron' | 'trigger';
export type DateType = 'once' | 'daily' | 'weekly' | 'monthly' | 'every_x_days';
export type LogicalOperator = 'AND' | 'OR';
export type TriggerOn = 'success' | 'failure';

export interface TriggerCondition {
  job_id: string;
  on: TriggerOn;
}

/** The schedule part of a JobSpec: what `POST schedule/preview` takes. */
export interface ScheduleSpec {
  schedule_type: ScheduleType;
  date_type?: DateType;
  run_date?: string;
  interval_days?: number;
  interval_seconds?: number;
  cron_expression?: string;
  logical_operator?: LogicalOperator;
  trigger_conditions?: TriggerCondition[];
  timezone?: string;
}

/** What `POST jobs` and `PUT jobs/{id}` take. */
export interface JobSpec extends ScheduleSpec {
  name: string;
  pipeline_path: string;
  python_code?: string;
  id?: string;
  paused?: boolean;
  description?: string;
  max_instances?: number;
  coalesce?: boolean;
  misfire_grace_time?: number;
}

/* ------------------------------------------------------------------ */
/* Form state                                                           */
/* ------------------------------------------------------------------ */

/** The schedule kinds the form offers, one per entry of the contract. */
export type ScheduleKind =
  | 'once'
  | 'daily'
  | 'weekly'
  | 'monthly'
  | 'every_x_days'
  | 'interval'
  | 'cron'
  | 'trigger';

export const SCHEDULE_KINDS: ScheduleKind[] = [
  'once',
  'daily',
  'weekly',
  'monthly',
  'every_x_days',
  'interval',
  'cron',
  'trigger'
];

export type IntervalUnit = 'seconds' | 'minutes' | 'hours' | 'days';

export const INTERVAL_UNIT_SECONDS: Record<IntervalUnit, number> = {
  seconds: 1,
  minutes: 60,
  hours: 3600,
  days: 86400
};

/**
 * Everything the form edits. Inputs keep their text (numbers too) so that
 * what the person typed is never silently rewritten while they type.
 */
export interface FormState {
  name: string;
  pipelinePath: string;
  description: string;
  kind: ScheduleKind;
  /** YYYY-MM-DD: the date of a one-off run, or the optional start of every N days. */
  date: string;
  /** HH:MM, wall-clock time in `timezone`. */
  time: string;
  /** 0 = Sunday ... 6 = Saturday (JavaScript's numbering). */
  weekday: number;
  /** 1..31 */
  dayOfMonth: number;
  intervalDays: string;
  intervalValue: string;
  intervalUnit: IntervalUnit;
  cronExpression: string;
  logicalOperator: LogicalOperator;
  conditions: TriggerCondition[];
  paused: boolean;
  /** IANA zone the wall-clock fields are in; the browser's for a new job. */
  timezone: string;
}

/** A problem the form can tell before asking the server, tied to a field. */
export class FormError extends Error {
  constructor(
    readonly field: keyof FormState,
    message: string
  ) {
    super(message);
    this.name = 'FormError';
  }
}

/* ------------------------------------------------------------------ */
/* Time zone arithmetic (Intl only, no library)                         */
/* ------------------------------------------------------------------ */

export interface WallTime {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 0 = Sunday */
  weekday: number;
}

const formatterCache = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatterCache.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit'
    });
    formatterCache.set(timeZone, formatter);
  }
  return formatter;
}

/** The wall-clock reading of an instant in an IANA zone. */
export function wallTimeInZone(instant: Date, timeZone: string): WallTime {
  const parts: Record<string, number> = {};
  for (const part of zoneFormatter(timeZone).formatToParts(instant)) {
    if (part.type !== 'literal') {
      parts[part.type] = parseInt(part.value, 10);
    }
  }
  const hour = parts.hour === 24 ? 0 : parts.hour;
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour,
    minute: parts.minute,
    weekday: new Date(
      Date.UTC(parts.year, parts.month - 1, parts.day)
    ).getUTCDay()
  };
}

function zoneOffsetMs(instantMs: number, timeZone: string): number {
  const wall = wallTimeInZone(new Date(instantMs), timeZone);
  const asUtc = Date.UTC(
    wall.year,
    wall.month - 1,
    wall.day,
    wall.hour,
    wall.minute
  );
  const truncated = instantMs - (((instantMs % 60000) + 60000) % 60000);
  return asUtc - truncated;
}

/** The instant at which the clocks of `timeZone` read the given wall time. */
export function zonedWallTimeToDate(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timeZone: string
): Date {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  const firstOffset = zoneOffsetMs(guess, timeZone);
  let instant = guess - firstOffset;
  const secondOffset = zoneOffsetMs(instant, timeZone);
  if (secondOffset !== firstOffset) {
    instant = guess - secondOffset;
  }
  return new Date(instant);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

export function formatDateField(year: number, month: number, day: number) {
  return `${year}-${pad2(month)}-${pad2(day)}`;
}

export function formatTimeField(hour: number, minute: number) {
  return `${pad2(hour)}:${pad2(minute)}`;
}

/* ------------------------------------------------------------------ */
/* Defaults                                                             */
/* ------------------------------------------------------------------ */

/** A fresh form: daily at the next full hour in the person's zone. */
export function defaultFormState(
  timeZone: string,
  now: Date = new Date(),
  pipelinePath = ''
): FormState {
  const nextHour = new Date(now.getTime() + 3600 * 1000);
  const wall = wallTimeInZone(nextHour, timeZone);
  return {
    name: pipelinePath ? defaultJobName(pipelinePath) : '',
    pipelinePath,
    description: '',
    kind: 'daily',
    date: formatDateField(wall.year, wall.month, wall.day),
    time: formatTimeField(wall.hour, 0),
    weekday: wall.weekday,
    dayOfMonth: wall.day,
    intervalDays: '1',
    intervalValue: '1',
    intervalUnit: 'hours',
    cronExpression: '0 8 * * *',
    logicalOperator: 'OR',
    conditions: [],
    paused: false,
    timezone: timeZone
  };
}

/** "etl/nightly_load.py" -> "nightly_load" */
export function defaultJobName(pipelinePath: string): string {
  const base = pipelinePath.split('/').pop() || pipelinePath;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/* ------------------------------------------------------------------ */
/* Form state -> JobSpec                                                */
/* ------------------------------------------------------------------ */

function parseDate(text: string): [number, number, number] | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (!match) {
    return null;
  }
  const year = +match[1];
  const month = +match[2];
  const day = +match[3];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return null;
  }
  return [year, month, day];
}

function parseTime(text: string): [number, number] | null {
  const match = /^(\d{1,2}):(\d{2})(?::\d{2})?$/.exec(text.trim());
  if (!match) {
    return null;
  }
  const hour = +match[1];
  const minute = +match[2];
  if (hour > 23 || minute > 59) {
    return null;
  }
  return [hour, minute];
}

/**
 * A whole number typed in a field. Out-of-range values are left to the
 * server, whose message says what range it accepts.
 */
function parseWholeNumber(
  text: string,
  field: keyof FormState,
  label: string
): number {
  const trimmed = text.trim();
  if (!/^-?\d+$/.test(trimmed)) {
    throw new FormError(field, `${label} must be a whole number.`);
  }
  return parseInt(trimmed, 10);
}

function requireTime(form: FormState): [number, number] {
  const time = parseTime(form.time);
  if (!time) {
    throw new FormError('time', 'Enter a time of day as HH:MM.');
  }
  return time;
}

/**
 * The first calendar day on or after `from` (a wall date in the zone) that
 * satisfies `accept`. Used to build a run_date carrying a weekday or a day of
 * the month.
 */
function firstDayFrom(
  from: WallTime,
  accept: (year: number, month: number, day: number) => boolean
): [number, number, number] {
  const start = Date.UTC(from.year, from.month - 1, from.day);
  // 4 years cover every day of the month (and leap days).
  for (let i = 0; i < 4 * 366; i++) {
    const d = new Date(start + i * 86400000);
    const y = d.getUTCFullYear();
    const m = d.getUTCMonth() + 1;
    const day = d.getUTCDate();
    if (accept(y, m, day)) {
      return [y, m, day];
    }
  }
  return [from.year, from.month, from.day];
}

/**
 * The schedule fields of the payload for a form state.
 *
 * `run_date` is sent like the original frontend sent it (UTC ISO from
 * Date.toISOString()) together with `timezone`, so the server reads its
 * wall-clock time in the zone the person chose it in.
 */
export function buildScheduleSpec(
  form: FormState,
  now: Date = new Date(),
  selfJobId?: string
): ScheduleSpec {
  const timezone = form.timezone;
  const today = wallTimeInZone(now, timezone);
  const at = (y: number, m: number, d: number, time: [number, number]) =>
    zonedWallTimeToDate(y, m, d, time[0], time[1], timezone).toISOString();

  switch (form.kind) {
    case 'once': {
      const date = parseDate(form.date);
      if (!date) {
        throw new FormError('date', 'Enter a date as YYYY-MM-DD.');
      }
      const time = requireTime(form);
      return {
        schedule_type: 'date',
        date_type: 'once',
        run_date: at(date[0], date[1], date[2], time),
        timezone
      };
    }
    case 'daily': {
      const time = requireTime(form);
      return {
        schedule_type: 'date',
        date_type: 'daily',
        run_date: at(today.year, today.month, today.day, time),
        timezone
      };
    }
    case 'weekly': {
      const time = requireTime(form);
      const weekday = form.weekday;
      const day = firstDayFrom(
        today,
        (y, m, d) => new Date(Date.UTC(y, m - 1, d)).getUTCDay() === weekday
      );
      return {
        schedule_type: 'date',
        date_type: 'weekly',
        run_date: at(day[0], day[1], day[2], time),
        timezone
      };
    }
    case 'monthly': {
      const time = requireTime(form);
      const dom = form.dayOfMonth;
      if (!Number.isInteger(dom) || dom < 1 || dom > 31) {
        throw new FormError(
          'dayOfMonth',
          'Choose a day of the month, 1 to 31.'
        );
      }
      const day = firstDayFrom(today, (y, m, d) => d === dom);
      return {
        schedule_type: 'date',
        date_type: 'monthly',
        run_date: at(day[0], day[1], day[2], time),
        timezone
      };
    }
    case 'every_x_days': {
      const spec: ScheduleSpec = {
        schedule_type: 'date',
        date_type: 'every_x_days',
        interval_days: parseWholeNumber(
          form.intervalDays,
          'intervalDays',
          'The number of days'
        ),
        timezone
      };
      // The start is optional: with a date (and time), the runs are counted
      // from it; without, from now.
      if (form.date.trim()) {
        const date = parseDate(form.date);
        if (!date) {
          throw new FormError('date', 'Enter a date as YYYY-MM-DD.');
        }
        const time = form.time.trim() ? requireTime(form) : [0, 0];
        spec.run_date = at(date[0], date[1], date[2], time as [number, number]);
      }
      return spec;
    }
    case 'interval': {
      const value = parseWholeNumber(
        form.intervalValue,
        'intervalValue',
        'The interval'
      );
      return {
        schedule_type: 'interval',
        interval_seconds: value * INTERVAL_UNIT_SECONDS[form.intervalUnit],
        timezone
      };
    }
    case 'cron':
      return {
        schedule_type: 'cron',
        cron_expression: form.cronExpression.trim().replace(/\s+/g, ' '),
        timezone
      };
    case 'trigger':
      return {
        schedule_type: 'trigger',
        logical_operator: form.logicalOperator,
        trigger_conditions: form.conditions
          .filter(c => c.job_id && c.job_id !== selfJobId)
          .map(c => ({ job_id: c.job_id, on: c.on })),
        timezone
      };
  }
}

/** The whole payload for POST jobs / PUT jobs/{id}. */
export function buildJobSpec(
  form: FormState,
  now: Date = new Date(),
  selfJobId?: string
): JobSpec {
  const name = form.name.trim();
  if (!name) {
    throw new FormError('name', 'Give the job a name.');
  }
  const pipelinePath = form.pipelinePath.trim().replace(/^\/+/, '');
  if (!pipelinePath) {
    throw new FormError('pipelinePath', 'Choose the pipeline to run.');
  }
  return {
    name,
    pipeline_path: pipelinePath,
    ...buildScheduleSpec(form, now, selfJobId),
    paused: form.paused,
    description: form.description
  };
}

/* ------------------------------------------------------------------ */
/* Job (as answered) -> form state, for edit and duplicate              */
/* ------------------------------------------------------------------ */

/** The fields of an answered Job that the form reads back. */
export interface JobLike {
  name: string;
  pipeline_path: string;
  schedule_type: ScheduleType;
  description?: string | null;
  date_type?: DateType | null;
  run_date?: string | null;
  interval_days?: number | null;
  interval_seconds?: number | null;
  cron_expression?: string | null;
  logical_operator?: LogicalOperator | null;
  trigger_conditions?: TriggerCondition[] | null;
  timezone?: string | null;
  paused?: boolean | null;
}

/** Seconds as the largest whole unit: 7200 -> 2 hours. */
export function splitInterval(seconds: number): [string, IntervalUnit] {
  for (const unit of ['days', 'hours', 'minutes'] as IntervalUnit[]) {
    const size = INTERVAL_UNIT_SECONDS[unit];
    if (seconds >= size && seconds % size === 0) {
      return [`${seconds / size}`, unit];
    }
  }
  return [`${seconds}`, 'seconds'];
}

export function jobToFormState(
  job: JobLike,
  fallbackTimeZone: string,
  now: Date = new Date()
): FormState {
  const timezone = job.timezone || fallbackTimeZone;
  const form = defaultFormState(timezone, now, job.pipeline_path);
  form.name = job.name;
  form.description = job.description || '';
  form.paused = !!job.paused;

  if (job.run_date) {
    const instant = new Date(job.run_date);
    if (!isNaN(instant.getTime())) {
      const wall = wallTimeInZone(instant, timezone);
      form.date = formatDateField(wall.year, wall.month, wall.day);
      form.time = formatTimeField(wall.hour, wall.minute);
      form.weekday = wall.weekday;
      form.dayOfMonth = wall.day;
    }
  }

  switch (job.schedule_type) {
    case 'date':
      form.kind = job.date_type || 'once';
      if (form.kind === 'every_x_days') {
        form.intervalDays = `${job.interval_days ?? 1}`;
        if (!job.run_date) {
          form.date = '';
          form.time = '';
        }
      }
      break;
    case 'interval': {
      form.kind = 'interval';
      const [value, unit] = splitInterval(job.interval_seconds ?? 3600);
      form.intervalValue = value;
      form.intervalUnit = unit;
      break;
    }
    case 'cron':
      form.kind = 'cron';
      form.cronExpression = job.cron_expression || '';
      break;
    case 'trigger':
      form.kind = 'trigger';
      form.logicalOperator = job.logical_operator || 'OR';
      form.conditions = (job.trigger_conditions || []).map(c => ({
        job_id: c.job_id,
        on: c.on
      }));
      break;
  }
  return form;
}

/** Pipelines the server runs. */
export const PIPELINE_EXTENSIONS = ['.py', '.ampln'];

export function isPipelinePath(path: string): boolean {
  const lower = path.toLowerCase();
  return PIPELINE_EXTENSIONS.some(ext => lower.endsWith(ext));
}

export function isAmplnPath(path: string): boolean {
  return path.toLowerCase().endsWith('.ampln');
}
