/**
 * Everything the job form edits, its defaults, and the form of an answered job
 * (edit, duplicate). Inputs keep their text so what was typed is never
 * silently rewritten while typing.
 */
import { defaultJobName } from '../paths';
import {
  formatDateField,
  formatTimeField,
  wallTimeInZone
} from '../time/zoned';
import { formatParameterValue } from './parameters';
import { ALERT_KINDS } from './spec';
import type {
  AlertOn,
  CatchupPolicy,
  DateType,
  LogicalOperator,
  ParameterValue,
  ScheduleType,
  TriggerCondition
} from './spec';

/** The schedule kinds the form offers, one per entry of the contract. */
export type ScheduleKind =
  | 'once'
  | 'daily'
  | 'weekly'
  | 'monthly'
  | 'every_x_days'
  | 'interval'
  | 'cron'
  | 'trigger'
  | 'file';

export const SCHEDULE_KINDS: ScheduleKind[] = [
  'once',
  'daily',
  'weekly',
  'monthly',
  'every_x_days',
  'interval',
  'cron',
  'trigger',
  'file'
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
  /** File arrival: the glob of workspace files that fire the job. */
  watchPath: string;
  /** File arrival: settle time in seconds ('' = the server's default). */
  watchDebounce: string;
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
  /** Deadlines and alerts: HH:MM[:SS] in `timezone`, minutes, a URL, addresses. */
  deadlineTime: string;
  maxDurationMinutes: string;
  slackWebhookUrl: string;
  /** Addresses separated by commas, semicolons or spaces. */
  alertEmails: string;
  /** What raises alerts; all three: the server's setting (alert_on not sent). */
  alertOn: AlertOn[];
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
  'webhookUrl',
  'deadlineTime',
  'maxDurationMinutes',
  'slackWebhookUrl',
  'alertEmails',
  'alertOn'
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
    watchPath: '',
    watchDebounce: '',
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
    webhookUrl: '',
    deadlineTime: '',
    maxDurationMinutes: '',
    slackWebhookUrl: '',
    alertEmails: '',
    alertOn: [...ALERT_KINDS]
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
  watch_path?: string | null;
  watch_debounce_seconds?: number | null;
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
  deadline_time?: string | null;
  max_duration_minutes?: number | null;
  slack_webhook_url?: string | null;
  alert_emails?: string[] | null;
  alert_on?: AlertOn[] | null;
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
  form.deadlineTime = job.deadline_time || '';
  form.maxDurationMinutes = text(job.max_duration_minutes);
  form.slackWebhookUrl = job.slack_webhook_url || '';
  form.alertEmails = (job.alert_emails || []).join(', ');
  form.alertOn = job.alert_on
    ? ALERT_KINDS.filter(kind => job.alert_on?.includes(kind))
    : [...ALERT_KINDS];

  if (job.run_date) {
    const instant = new Date(job.run_date);
    if (!isNaN(instant.getTime())) {
      const wall = wallTimeInZone(instant, timezone);
      form.date = formatDateField(wall.year, wall.month, wall.day);
      form.time = formatTimeField(wall.hour, wall.minute);
      // Seconds only where the schedule has them.
      if (instant.getUTCSeconds()) {
        form.time += `:${String(instant.getUTCSeconds()).padStart(2, '0')}`;
      }
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
    case 'file':
      form.kind = 'file';
      form.watchPath = job.watch_path || '';
      form.watchDebounce = text(job.watch_debounce_seconds);
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

/** The JobSpec fields of a schedule (what an edit leaves out when unchanged). */
export const SCHEDULE_SPEC_FIELDS = [
  'schedule_type',
  'date_type',
  'run_date',
  'interval_days',
  'interval_seconds',
  'cron_expression',
  'logical_operator',
  'trigger_conditions',
  'watch_path',
  'watch_debounce_seconds',
  'timezone'
] as const;

/** The fields of the form that make the schedule, as one comparable text. */
export function scheduleKey(form: FormState): string {
  const common = [form.kind, form.timezone];
  switch (form.kind) {
    case 'once':
      return JSON.stringify([...common, form.date, form.time]);
    case 'daily':
      return JSON.stringify([...common, form.time]);
    case 'weekly':
      return JSON.stringify([...common, form.weekday, form.time]);
    case 'monthly':
      return JSON.stringify([...common, form.dayOfMonth, form.time]);
    case 'every_x_days':
      return JSON.stringify([
        ...common,
        form.intervalDays,
        form.date,
        form.time
      ]);
    case 'interval':
      return JSON.stringify([...common, form.intervalValue, form.intervalUnit]);
    case 'cron':
      return JSON.stringify([...common, form.cronExpression.trim()]);
    case 'trigger':
      return JSON.stringify([...common, form.logicalOperator, form.conditions]);
    case 'file':
      return JSON.stringify([
        ...common,
        form.watchPath.trim(),
        form.watchDebounce.trim()
      ]);
  }
}

/** Whether the person changed anything in the form since it opened. */
export function isFormChanged(initial: FormState, current: FormState): boolean {
  return JSON.stringify(initial) !== JSON.stringify(current);
}
