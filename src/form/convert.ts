/**
 * Form state -> the JobSpec payload of POST jobs / PUT jobs/{id} and of
 * POST schedule/preview. Problems the form can tell before asking the server
 * are thrown as FormError, tied to the field.
 */
import { isNotebookPath } from '../paths';
import {
  checkWallTime,
  daysInMonth,
  formatDateField,
  nextDstClash,
  WallTime,
  WallTimeCheck,
  wallTimeInZone
} from '../time/zoned';
import { parseParameterValue } from './parameters';
import { ALERT_KINDS } from './spec';
import type {
  AlertOn,
  ExecutionSpec,
  JobSpec,
  ScheduleSpec,
  TriggerCondition
} from './spec';
import {
  FormError,
  FormState,
  INTERVAL_UNIT_SECONDS,
  KeyValue,
  SecretRow
} from './state';

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

/** [hour, minute, second] of "HH:MM" or "HH:MM:SS". */
export function parseTime(text: string): [number, number, number] | null {
  const match = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!match) {
    return null;
  }
  const hour = +match[1];
  const minute = +match[2];
  const second = match[3] ? +match[3] : 0;
  if (hour > 23 || minute > 59 || second > 59) {
    return null;
  }
  return [hour, minute, second];
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

function requireTime(form: FormState): [number, number, number] {
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
  type Time = [number, number, number];
  /** A one-off wall time: refused when the zone's clocks skip it. */
  const exactly = (y: number, m: number, d: number, time: Time) => {
    const check = checkWallTime(wallClock(y, m, d, time), timezone);
    if (check.kind === 'skipped') {
      throw new FormError(
        'time',
        skippedTimeMessage(form.time, formatDateField(y, m, d), timezone, check)
      );
    }
    // A repeated time means its first occurrence, as the server reads it.
    return (check.kind === 'ok' ? check.instant : check.first).toISOString();
  };
  /**
   * A recurring schedule's wall time, carried by a day on which it exists
   * exactly once (the server reads only its time of day, weekday or day of
   * the month in the zone, so a DST day must not carry it).
   */
  const carried = (
    time: Time,
    accept: (y: number, m: number, d: number) => boolean
  ) => {
    const day = firstDayFrom(
      today,
      (y, m, d) =>
        accept(y, m, d) &&
        checkWallTime(wallClock(y, m, d, time), timezone).kind === 'ok'
    );
    return exactly(day[0], day[1], day[2], time);
  };

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
        run_date: exactly(date[0], date[1], date[2], time),
        timezone
      };
    }
    case 'daily': {
      const time = requireTime(form);
      return {
        schedule_type: 'date',
        date_type: 'daily',
        run_date: carried(time, () => true),
        timezone
      };
    }
    case 'weekly': {
      const time = requireTime(form);
      const weekday = form.weekday;
      return {
        schedule_type: 'date',
        date_type: 'weekly',
        run_date: carried(
          time,
          (y, m, d) => new Date(Date.UTC(y, m - 1, d)).getUTCDay() === weekday
        ),
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
      return {
        schedule_type: 'date',
        date_type: 'monthly',
        run_date: carried(time, (y, m, d) => d === dom),
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
      // The runs are counted from the start date at the Time. Without a
      // date, from the next time the clocks read the Time (today or
      // tomorrow); without either, the server counts from now.
      if (form.date.trim()) {
        const date = parseDate(form.date);
        if (!date) {
          throw new FormError('date', 'Enter a date as YYYY-MM-DD.');
        }
        const time: Time = form.time.trim() ? requireTime(form) : [0, 0, 0];
        spec.run_date = exactly(date[0], date[1], date[2], time);
      } else if (form.time.trim()) {
        const time = requireTime(form);
        const day = firstDayFrom(today, (y, m, d) => {
          const check = checkWallTime(wallClock(y, m, d, time), timezone);
          return check.kind !== 'skipped' && wallInstant(check) > now;
        });
        spec.run_date = exactly(day[0], day[1], day[2], time);
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
    case 'trigger': {
      const conditions = form.conditions.filter(
        c => c.job_id && c.job_id !== selfJobId
      );
      const twice = duplicateConditions(form.conditions);
      if (twice.length) {
        throw new FormError(
          'conditions',
          `Condition ${twice[0] + 1} repeats an earlier one (same job, same outcome): remove it or change it.`
        );
      }
      return {
        schedule_type: 'trigger',
        logical_operator: form.logicalOperator,
        trigger_conditions: conditions.map(c => ({
          job_id: c.job_id,
          on: c.on
        })),
        timezone
      };
    }
    case 'file': {
      const watchPath = form.watchPath.trim();
      if (!watchPath) {
        throw new FormError(
          'watchPath',
          'Enter the files to watch, e.g. data/incoming/*.csv.'
        );
      }
      const spec: ScheduleSpec = {
        schedule_type: 'file',
        watch_path: watchPath,
        timezone
      };
      if (form.watchDebounce.trim()) {
        spec.watch_debounce_seconds = parseWholeNumber(
          form.watchDebounce,
          'watchDebounce',
          'The settle time'
        );
      }
      return spec;
    }
  }
}

function wallClock(
  y: number,
  m: number,
  d: number,
  time: [number, number, number]
) {
  return {
    year: y,
    month: m,
    day: d,
    hour: time[0],
    minute: time[1],
    second: time[2]
  };
}

function wallInstant(check: WallTimeCheck): Date {
  return check.kind === 'ok'
    ? check.instant
    : check.kind === 'repeated'
      ? check.first
      : check.jumpAt;
}

/** Indices of the trigger conditions that repeat an earlier one (same job and outcome). */
export function duplicateConditions(
  conditions: ReadonlyArray<TriggerCondition>
): number[] {
  const seen = new Set<string>();
  const twice: number[] = [];
  conditions.forEach((c, index) => {
    if (!c.job_id) {
      return;
    }
    const key = `${c.job_id}\u0000${c.on}`;
    if (seen.has(key)) {
      twice.push(index);
    }
    seen.add(key);
  });
  return twice;
}

/** "02:30 does not exist on 2026-03-29 in Europe/Paris: ..." */
export function skippedTimeMessage(
  time: string,
  date: string,
  timezone: string,
  check: { jumpFrom: string; jumpTo: string }
): string {
  return `${time} does not exist on ${date} in ${timezone}: the clocks jump from ${check.jumpFrom} to ${check.jumpTo}. Choose another time.`;
}

/**
 * A note for the Time field about what the zone's clocks do at the chosen
 * time: a one-off (or start) time that happens twice, or the next day a
 * recurring schedule meets a skipped or repeated time, and what the server
 * does then (it fires at the jump, or at the first occurrence). Null when
 * there is nothing to say. Skipped one-off times are errors instead (see
 * buildScheduleSpec).
 */
export function dstNote(
  form: FormState,
  now: Date = new Date()
): string | null {
  const time = parseTime(form.time);
  if (!time) {
    return null;
  }
  const tz = form.timezone;
  const shown = form.time.trim();
  const once =
    form.kind === 'once' || (form.kind === 'every_x_days' && form.date.trim());
  if (once) {
    const date = parseDate(form.date);
    if (!date) {
      return null;
    }
    const check = checkWallTime(wallClock(date[0], date[1], date[2], time), tz);
    if (check.kind === 'repeated') {
      return `${shown} happens twice on ${form.date} in ${tz} (the clocks go back): the first one is used, at UTC${check.firstOffset} (not the later one at UTC${check.secondOffset}).`;
    }
    return null;
  }
  const accept: Record<
    string,
    ((y: number, m: number, d: number) => boolean) | undefined
  > = {
    daily: () => true,
    every_x_days: () => true,
    weekly: (y, m, d) =>
      new Date(Date.UTC(y, m - 1, d)).getUTCDay() === form.weekday,
    monthly: (y, m, d) => d === form.dayOfMonth
  };
  const days = accept[form.kind];
  if (!days) {
    return null;
  }
  const clash = nextDstClash(
    wallTimeInZone(now, tz),
    time[0],
    time[1],
    tz,
    days
  );
  if (!clash) {
    return null;
  }
  const date = formatDateField(clash.year, clash.month, clash.day);
  if (clash.check.kind === 'skipped') {
    return `On ${date} the clocks in ${tz} jump from ${clash.check.jumpFrom} to ${clash.check.jumpTo}, so ${shown} does not exist that day: it runs at ${clash.check.jumpTo}.`;
  }
  return `On ${date} ${shown} happens twice in ${tz} (the clocks go back): it runs once, at the first one.`;
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

function optionalWholeNumber(
  text: string,
  field: keyof FormState,
  label: string
): number | null {
  return text.trim() ? parseWholeNumber(text, field, label) : null;
}

/** Addresses separated by commas, semicolons or white space; null for none. */
export function alertEmails(text: string): string[] | null {
  const addresses = text.split(/[\s,;]+/).filter(a => a !== '');
  return addresses.length ? addresses : null;
}

/** All three kinds: what the server's alert_on setting says (not sent). */
export function isDefaultAlertOn(kinds: ReadonlyArray<AlertOn>): boolean {
  return ALERT_KINDS.every(kind => kinds.includes(kind));
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
    webhook_url: optionalText(form.webhookUrl),
    deadline_time: optionalText(form.deadlineTime),
    max_duration_minutes: optionalWholeNumber(
      form.maxDurationMinutes,
      'maxDurationMinutes',
      'The maximum duration'
    ),
    slack_webhook_url: optionalText(form.slackWebhookUrl),
    alert_emails: alertEmails(form.alertEmails),
    alert_on: isDefaultAlertOn(form.alertOn)
      ? null
      : ALERT_KINDS.filter(kind => form.alertOn.includes(kind))
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
    form.webhookUrl,
    form.deadlineTime,
    form.maxDurationMinutes,
    form.slackWebhookUrl,
    form.alertEmails,
    isDefaultAlertOn(form.alertOn) ? '' : 'alert_on'
  ].filter(t => t.trim() !== '').length;
  const rows = [form.env, form.secretEnv, form.parameters].filter(list =>
    list.some(row => row.key.trim())
  ).length;
  return texts + rows;
}
