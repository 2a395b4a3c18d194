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
/** What a fire time missed while no server ran does: run once at start-up, or skip. */
export type CatchupPolicy = 'run_once' | 'skip';
/** A parameter's JSON value (docs/api.md: `"parameters": {"LIMIT": 100}`). */
export type ParameterValue = string | number | boolean;

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

/**
 * The execution options of a JobSpec. `null` clears an option on PUT (the
 * form sends it for an option emptied while editing); a new job simply leaves
 * the empty ones out.
 */
export interface ExecutionSpec {
  max_instances?: number | null;
  catchup?: CatchupPolicy | null;
  timeout_seconds?: number | null;
  max_retries?: number | null;
  retry_delay_seconds?: number | null;
  env?: Record<string, string> | null;
  /** Write-only: sent only when the person changed the secrets; `{}` removes them all. */
  secret_env?: Record<string, string>;
  parameters?: Record<string, ParameterValue> | null;
  python_executable?: string | null;
  working_dir?: string | null;
  kernel_name?: string | null;
  webhook_url?: string | null;
}

/** What `POST jobs` and `PUT jobs/{id}` take. */
export interface JobSpec extends ScheduleSpec, ExecutionSpec {
  name: string;
  pipeline_path: string;
  python_code?: string;
  id?: string;
  paused?: boolean;
  description?: string;
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

/** One row of the environment / parameters editors. */
export interface KeyValue {
  key: string;
  value: string;
}

/**
 * One row of the secret variables editor. `stored` rows came from the job's
 * `secret_env_keys`: their value is on the server only, and an empty value
 * means "keep it".
 */
export interface SecretRow extends KeyValue {
  stored: boolean;
}

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

  /* Advanced: execution options (empty text = not set). */
  timeoutSeconds: string;
  maxRetries: string;
  retryDelaySeconds: string;
  maxInstances: string;
  /** '' = the server's default policy. */
  catchup: '' | CatchupPolicy;
  env: KeyValue[];
  secretEnv: SecretRow[];
  /** The secret names stored on the server when the form was opened (edit). */
  secretEnvKeys: string[];
  parameters: KeyValue[];
  pythonExecutable: string;
  workingDir: string;
  kernelName: string;
  webhookUrl: string;
}

/** The form fields of the collapsible "Advanced" section. */
export const ADVANCED_FIELDS: ReadonlyArray<keyof FormState> = [
  'timeoutSeconds',
  'maxRetries',
  'retryDelaySeconds',
  'maxInstances',
  'catchup',
  'env',
  'secretEnv',
  'parameters',
  'pythonExecutable',
  'workingDir',
  'kernelName',
  'webhookUrl'
];

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
    timezone: timeZone,
    timeoutSeconds: '',
    maxRetries: '',
    retryDelaySeconds: '',
    maxInstances: '',
    catchup: '',
    env: [],
    secretEnv: [],
    secretEnvKeys: [],
    parameters: [],
    pythonExecutable: '',
    workingDir: '',
    kernelName: '',
    webhookUrl: ''
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

export interface BuildOptions {
  /**
   * Editing (PUT): an option left empty is sent as `null`, so that emptying a
   * field removes the option on the server. Creating leaves empty ones out.
   */
  clearEmpty?: boolean;
}

/** The whole payload for POST jobs / PUT jobs/{id}. */
export function buildJobSpec(
  form: FormState,
  now: Date = new Date(),
  selfJobId?: string,
  options: BuildOptions = {}
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
    description: form.description,
    ...buildExecutionSpec(form, options)
  };
}

/* ------------------------------------------------------------------ */
/* Advanced section -> execution options                                */
/* ------------------------------------------------------------------ */

/**
 * A parameter's value as typed -> its JSON value. `true` / `false` become
 * booleans; a number becomes a JSON number only when it reads back exactly
 * as typed (`100`, `-2.5`, `0.1`), so the environment variable the pipeline
 * gets is the text that was typed. Everything else stays text: `007`, `1.50`,
 * `1e3`, `TRUE`, `" 5"`, the empty string.
 */
export function parseParameterValue(text: string): ParameterValue {
  if (text === 'true') {
    return true;
  }
  if (text === 'false') {
    return false;
  }
  if (/^-?\d+(\.\d+)?$/.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n) && String(n) === text) {
      return n;
    }
  }
  return text;
}

/** The text a parameter's value is edited as (the inverse of parseParameterValue). */
export function formatParameterValue(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  return value === null || value === undefined ? '' : JSON.stringify(value);
}

function optionalWholeNumber(
  text: string,
  field: keyof FormState,
  label: string
): number | null {
  return text.trim() ? parseWholeNumber(text, field, label) : null;
}

function optionalText(text: string): string | null {
  const trimmed = text.trim();
  return trimmed ? trimmed : null;
}

/** Key/value rows -> an object; blank rows are ignored, the rest must have a name. */
function rowsToObject<T>(
  rows: ReadonlyArray<KeyValue>,
  field: keyof FormState,
  convert: (value: string) => T
): Record<string, T> | null {
  const result: Record<string, T> = {};
  let count = 0;
  for (const row of rows) {
    const key = row.key.trim();
    if (!key) {
      if (row.value !== '') {
        throw new FormError(field, 'Give each variable a name.');
      }
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(result, key)) {
      throw new FormError(field, `The variable ${key} is given twice.`);
    }
    result[key] = convert(row.value);
    count++;
  }
  return count ? result : null;
}

/** The rows of the secrets editor that have a name. */
function namedSecrets(form: FormState): SecretRow[] {
  return form.secretEnv.filter(row => row.key.trim() || row.value !== '');
}

/**
 * Whether the person changed the secret variables: a value typed, a name
 * added, renamed or removed. Untouched secrets are not sent at all, so the
 * server keeps them.
 */
export function secretsChanged(form: FormState): boolean {
  const rows = namedSecrets(form);
  if (rows.some(row => row.value !== '' || !row.stored)) {
    return true;
  }
  const names = rows.map(row => row.key.trim()).sort();
  const stored = [...form.secretEnvKeys].sort();
  return (
    names.length !== stored.length || names.some((n, i) => n !== stored[i])
  );
}

/**
 * `secret_env` to send, or undefined to leave the stored secrets as they are.
 *
 * The server replaces the secrets as a whole (it never sends a value back),
 * so once they change, every remaining secret needs its value again.
 */
function buildSecretEnv(form: FormState): Record<string, string> | undefined {
  if (!secretsChanged(form)) {
    return undefined;
  }
  const rows = namedSecrets(form);
  const keep = rows.filter(row => row.value === '').map(row => row.key.trim());
  if (keep.length) {
    throw new FormError(
      'secretEnv',
      `Type the value of ${keep.join(', ')} again, or remove it: when the secret variables change, the server replaces all of them and cannot keep a value it never shows.`
    );
  }
  return rowsToObject(rows, 'secretEnv', v => v) ?? {};
}

/** The execution options of the Advanced section. */
export function buildExecutionSpec(
  form: FormState,
  options: BuildOptions = {}
): ExecutionSpec {
  const values: ExecutionSpec = {
    timeout_seconds: optionalWholeNumber(
      form.timeoutSeconds,
      'timeoutSeconds',
      'The timeout'
    ),
    max_retries: optionalWholeNumber(
      form.maxRetries,
      'maxRetries',
      'The number of retries'
    ),
    retry_delay_seconds: optionalWholeNumber(
      form.retryDelaySeconds,
      'retryDelaySeconds',
      'The retry delay'
    ),
    max_instances: optionalWholeNumber(
      form.maxInstances,
      'maxInstances',
      'The number of instances'
    ),
    catchup: form.catchup || null,
    env: rowsToObject(form.env, 'env', v => v),
    parameters: rowsToObject(
      form.parameters,
      'parameters',
      parseParameterValue
    ),
    python_executable: optionalText(form.pythonExecutable),
    working_dir: optionalText(form.workingDir)?.replace(/^\/+/, '') || null,
    kernel_name: isNotebookPath(form.pipelinePath)
      ? optionalText(form.kernelName)
      : null,
    webhook_url: optionalText(form.webhookUrl)
  };
  const spec: ExecutionSpec = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== null || options.clearEmpty) {
      (spec as any)[key] = value;
    }
  }
  const secrets = buildSecretEnv(form);
  if (secrets !== undefined) {
    spec.secret_env = secrets;
  }
  return spec;
}

/** How many advanced options are set (shown next to the closed section). */
export function countAdvanced(form: FormState): number {
  const texts = [
    form.timeoutSeconds,
    form.maxRetries,
    form.retryDelaySeconds,
    form.maxInstances,
    form.catchup,
    form.pythonExecutable,
    form.workingDir,
    isNotebookPath(form.pipelinePath) ? form.kernelName : '',
    form.webhookUrl
  ].filter(t => t.trim() !== '').length;
  const rows = [form.env, form.secretEnv, form.parameters].filter(list =>
    list.some(row => row.key.trim())
  ).length;
  return texts + rows;
}

/* ------------------------------------------------------------------ */
/* Server errors -> form fields                                         */
/* ------------------------------------------------------------------ */

/** The JobSpec field a server error names -> the form field that edits it. */
const SERVER_FIELDS: Record<string, keyof FormState> = {
  name: 'name',
  pipeline_path: 'pipelinePath',
  description: 'description',
  timeout_seconds: 'timeoutSeconds',
  max_retries: 'maxRetries',
  retry_delay_seconds: 'retryDelaySeconds',
  max_instances: 'maxInstances',
  catchup: 'catchup',
  env: 'env',
  secret_env: 'secretEnv',
  parameters: 'parameters',
  python_executable: 'pythonExecutable',
  working_dir: 'workingDir',
  kernel_name: 'kernelName',
  webhook_url: 'webhookUrl'
};

export interface ServerErrorPlacement {
  /** Messages to show at a field of the form. */
  fields: Partial<Record<keyof FormState, string>>;
  /** The parts that name no field of the form (e.g. a schedule field). */
  rest: string[];
}

/**
 * Place a server error at the fields it names. The server starts each
 * problem with the JobSpec field, e.g. `timeout_seconds: must be from 1 to
 * 604800, not 0`, and joins several problems with `; `
 * (`parameters.X: ...; env.Y: ...`).
 */
export function placeServerError(message: string): ServerErrorPlacement {
  const parts = message.split(/; (?=[a-z_][a-z0-9_]*(?:\.[^\s:;]+)*: )/);
  const result: ServerErrorPlacement = { fields: {}, rest: [] };
  for (const part of parts) {
    const match = /^([a-z_][a-z0-9_]*)[.:]/.exec(part);
    const field = match ? SERVER_FIELDS[match[1]] : undefined;
    if (field) {
      const previous = result.fields[field];
      result.fields[field] = previous ? `${previous}; ${part}` : part;
    } else {
      result.rest.push(part);
    }
  }
  return result;
}

/* ------------------------------------------------------------------ */
/* Executed notebook download                                           */
/* ------------------------------------------------------------------ */

/**
 * The file name of a run's executed notebook: the server's
 * Content-Disposition, else `<name>-run-<id>.ipynb`. Never a path.
 */
export function notebookFileName(
  contentDisposition: string | null | undefined,
  pipelinePath: string,
  runId: number
): string {
  const header = contentDisposition || '';
  let name = '';
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (star) {
    try {
      name = decodeURIComponent(star[1].trim());
    } catch {
      name = '';
    }
  }
  if (!name) {
    const plain = /filename\s*=\s*(?:"([^"]*)"|([^;]+))/.exec(header);
    name = plain ? (plain[1] ?? plain[2] ?? '').trim() : '';
  }
  name = name.split(/[\\/]/).pop() || '';
  if (!name) {
    name = `${defaultJobName(pipelinePath) || 'notebook'}-run-${runId}.ipynb`;
  }
  return name;
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
  max_instances?: number | null;
  catchup?: CatchupPolicy | null;
  timeout_seconds?: number | null;
  max_retries?: number | null;
  retry_delay_seconds?: number | null;
  env?: Record<string, string> | null;
  secret_env_keys?: string[] | null;
  parameters?: Record<string, ParameterValue> | null;
  python_executable?: string | null;
  working_dir?: string | null;
  kernel_name?: string | null;
  webhook_url?: string | null;
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
  const text = (n: number | null | undefined) =>
    n === null || n === undefined ? '' : String(n);
  form.timeoutSeconds = text(job.timeout_seconds);
  form.maxRetries = text(job.max_retries);
  form.retryDelaySeconds = text(job.retry_delay_seconds);
  form.maxInstances = text(job.max_instances);
  form.catchup = job.catchup || '';
  form.env = Object.entries(job.env || {}).map(([key, value]) => ({
    key,
    value: String(value)
  }));
  form.parameters = Object.entries(job.parameters || {}).map(
    ([key, value]) => ({ key, value: formatParameterValue(value) })
  );
  form.secretEnvKeys = [...(job.secret_env_keys || [])];
  form.secretEnv = form.secretEnvKeys.map(key => ({
    key,
    value: '',
    stored: true
  }));
  form.pythonExecutable = job.python_executable || '';
  form.workingDir = job.working_dir || '';
  form.kernelName = job.kernel_name || '';
  form.webhookUrl = job.webhook_url || '';

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

/**
 * A copy of a job's form for a new job: the stored secrets belong to the
 * original job (their values are never sent back), so their names stay and
 * their values must be typed again.
 */
export function withoutStoredSecrets(form: FormState): FormState {
  return {
    ...form,
    secretEnvKeys: [],
    secretEnv: form.secretEnv.map(row => ({ ...row, stored: false }))
  };
}

/** Pipelines the server runs (until its config says otherwise). */
export const PIPELINE_EXTENSIONS = ['.py', '.ampln', '.ipynb'];

export function isPipelinePath(path: string): boolean {
  const lower = path.toLowerCase();
  return PIPELINE_EXTENSIONS.some(ext => lower.endsWith(ext));
}

export function isAmplnPath(path: string): boolean {
  return path.trim().toLowerCase().endsWith('.ampln');
}

export function isNotebookPath(path: string): boolean {
  return path.trim().toLowerCase().endsWith('.ipynb');
}
