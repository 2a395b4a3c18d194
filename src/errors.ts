/** Server errors -> the form fields they are about. */
import type { FormState } from './form/state';

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
  webhook_url: 'webhookUrl',
  deadline_time: 'deadlineTime',
  max_duration_minutes: 'maxDurationMinutes',
  slack_webhook_url: 'slackWebhookUrl',
  alert_emails: 'alertEmails',
  alert_on: 'alertOn'
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
/* The server's `fields` -> the form's fields, in the form's words      */
/* ------------------------------------------------------------------ */

/** What a person calls each JobSpec field (for messages that name one). */
const FIELD_WORDS: Record<string, string> = {
  name: 'the name',
  pipeline_path: 'the pipeline',
  python_code: "the pipeline's generated code",
  description: 'the description',
  schedule_type: 'the schedule',
  date_type: 'the schedule',
  run_date: 'the date and time',
  interval_days: 'the number of days',
  interval_seconds: 'the interval',
  cron_expression: 'the cron expression',
  logical_operator: 'the choice between any and all conditions',
  trigger_conditions: 'the conditions',
  watch_path: 'the files to watch',
  watch_debounce_seconds: 'the settle time',
  timezone: 'the time zone',
  paused: 'paused',
  timeout_seconds: 'the timeout',
  max_retries: 'the number of retries',
  retry_delay_seconds: 'the retry delay',
  max_instances: 'the number of overlapping runs',
  catchup: 'missed runs',
  env: 'the environment variables',
  secret_env: 'the secret variables',
  parameters: 'the parameters',
  python_executable: 'the Python interpreter',
  working_dir: 'the working folder',
  kernel_name: 'the kernel',
  webhook_url: 'the webhook URL',
  deadline_time: 'the deadline',
  max_duration_minutes: 'the maximum duration',
  slack_webhook_url: 'the Slack webhook URL',
  alert_emails: 'the alert e-mails',
  alert_on: 'what raises alerts',
  allow_inline_code: 'the server setting that allows generated code'
};

/** The form control that produced a JobSpec field, for the form as it is. */
export function formFieldOf(
  apiField: string,
  form: FormState
): keyof FormState | null {
  const direct = SERVER_FIELDS[apiField];
  if (direct) {
    return direct;
  }
  switch (apiField) {
    case 'python_code':
      return 'pipelinePath';
    case 'schedule_type':
    case 'date_type':
      return 'kind';
    case 'run_date':
      // A date for a one-off (or the start of every N days), else its time.
      return form.kind === 'once' ||
        (form.kind === 'every_x_days' && form.date.trim())
        ? 'date'
        : 'time';
    case 'interval_days':
      return 'intervalDays';
    case 'interval_seconds':
      return 'intervalValue';
    case 'cron_expression':
      return 'cronExpression';
    case 'logical_operator':
      return 'logicalOperator';
    case 'trigger_conditions':
      return 'conditions';
    case 'watch_path':
      return 'watchPath';
    case 'watch_debounce_seconds':
      return 'watchDebounce';
    case 'timezone':
      return 'timezone';
    case 'paused':
      return 'paused';
  }
  return null;
}

const UNIT_WORDS: Record<string, [string, string]> = {
  seconds: ['second', 'seconds'],
  minutes: ['minute', 'minutes'],
  hours: ['hour', 'hours'],
  days: ['day', 'days']
};
const UNIT_SIZES: Record<string, number> = {
  seconds: 1,
  minutes: 60,
  hours: 3600,
  days: 86400
};

function count(n: number, unit: string): string {
  const [one, many] = UNIT_WORDS[unit];
  return `${n.toLocaleString('en-US', { maximumFractionDigits: 2 })} ${n === 1 ? one : many}`;
}

/** The unit a numeric field is typed in, in the form as it is. */
function unitOf(apiField: string, form: FormState): string | null {
  switch (apiField) {
    case 'interval_seconds':
      return form.intervalUnit;
    case 'interval_days':
      return 'days';
    case 'timeout_seconds':
    case 'retry_delay_seconds':
    case 'watch_debounce_seconds':
      return 'seconds';
  }
  return null;
}

export interface MessageContext {
  /** The workspace's absolute path on the server, never shown. */
  rootDir?: string;
}

/**
 * A server message about one field, said in the form's words: ranges in the
 * unit the person chose ("from 1 to 3,660 days, not 4,000"), times in the
 * form's zone, no JSON, no API field names, no absolute server paths.
 */
export function fieldMessage(
  apiField: string,
  text: string,
  form: FormState,
  context: MessageContext = {}
): string {
  let message = text.trim();
  const range =
    /^must be (?:a whole number )?from (-?\d+) to (-?\d+), not (.+)$/.exec(
      message
    );
  const unit = unitOf(apiField, form);
  if (range && unit) {
    const size = apiField === 'interval_days' ? 1 : UNIT_SIZES[unit];
    const low = Math.max(1, Math.ceil(+range[1] / size));
    const high = Math.floor(+range[2] / size);
    const low0 = +range[1] === 0 ? 0 : low;
    const given = Number(range[3]);
    const asTyped = Number.isFinite(given) ? given / size : null;
    message =
      `Choose from ${count(low0, unit)} to ${count(high, unit)}` +
      (asTyped !== null ? `, not ${count(asTyped, unit)}.` : '.');
  } else if (range) {
    message = `Choose from ${(+range[1]).toLocaleString('en-US')} to ${(+range[2]).toLocaleString('en-US')}, not ${range[3]}.`;
  } else if (apiField === 'run_date' && /is in the past/.test(message)) {
    const when = form.kind === 'once' ? `${form.date} ${form.time}` : form.time;
    message = `${when} (${form.timezone}) has passed; choose a future date and time.`;
  } else if (apiField === 'run_date' && /ISO 8601/.test(message)) {
    message = 'Enter a valid date and time.';
  } else if (
    apiField === 'trigger_conditions' &&
    /at least one condition/.test(message)
  ) {
    message = 'Add at least one condition: the job this one runs after.';
  } else if (apiField === 'timezone' && /unknown time zone/.test(message)) {
    message = `${form.timezone} is not a time zone the server knows; choose another.`;
  }
  return plainWords(message, context);
}

/** Take API field names, JSON and server paths out of a message. */
export function plainWords(text: string, context: MessageContext = {}): string {
  let message = text;
  if (context.rootDir) {
    const root = context.rootDir.replace(/\/+$/, '');
    message = message
      .split(`${root}/`)
      .join('')
      .split(root)
      .join('the workspace');
  }
  // JSON examples ("e.g. [{"job_id": ...}]") say nothing to a person.
  message = message.replace(/,?\s*e\.g\.\s*[[{][^]*?[\]}](?=\.|$)/g, '');
  message = message.replace(/\{[^{}]*"[^{}]*\}/g, '…');
  // Only names that cannot be English words ("name", "description" can).
  const names = Object.keys(FIELD_WORDS)
    .filter(name => name.includes('_') || name === 'timezone')
    .sort((a, b) => b.length - a.length);
  message = message.replace(
    new RegExp(
      `(^|[^A-Za-z0-9_.'/])(${names.join('|')})(?![A-Za-z0-9_])(:\\s*)?`,
      'g'
    ),
    (_all, before: string, name: string, colon?: string) =>
      colon && before === ''
        ? '' // "field: ..." at the start: the message is shown at that field
        : `${before}${FIELD_WORDS[name]}${colon ?? ''}`
  );
  message = message.trim();
  return message ? message[0].toUpperCase() + message.slice(1) : message;
}

/**
 * Place an error answer at the form's fields: its `fields` (preferred), else
 * the `field: text` parts of its message (placeServerError). Every message
 * is said in the form's words; what names no field of the form stays in
 * `rest`, also in plain words.
 */
export function placeFieldErrors(
  error: { message: string; fields?: Record<string, string> | null },
  form: FormState,
  context: MessageContext = {}
): ServerErrorPlacement {
  const result: ServerErrorPlacement = { fields: {}, rest: [] };
  const fields = error.fields ?? {};
  const names = Object.keys(fields);
  if (!names.length) {
    const placed = placeServerError(error.message);
    for (const [field, text] of Object.entries(placed.fields)) {
      const apiField = /^([a-z_][a-z0-9_]*)/.exec(text ?? '')?.[1] ?? '';
      result.fields[field as keyof FormState] = fieldMessage(
        apiField,
        (text ?? '').replace(/^[a-z_][a-z0-9_]*(?:\.[^\s:]+)?:\s*/, ''),
        form,
        context
      );
    }
    result.rest = placed.rest.map(text => plainWords(text, context));
    return result;
  }
  for (const apiField of names) {
    const field = formFieldOf(apiField, form);
    const text = fieldMessage(apiField, fields[apiField], form, context);
    if (field) {
      const previous = result.fields[field];
      result.fields[field] = previous ? `${previous} ${text}` : text;
    } else {
      result.rest.push(text);
    }
  }
  return result;
}
