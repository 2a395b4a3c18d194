/**
 * The "Run with…" and "Backfill…" dialogs: JupyterLab dialogs whose accept
 * button sends the request and closes only when the server accepted it, so a
 * refusal is shown at its field (the server's own message) with what was typed
 * kept. The forms are plain components (tested without a dialog); the values
 * they send are built by pure functions.
 */
import { Dialog, ReactWidget } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  api as defaultApi,
  Backfill,
  BackfillRequest,
  JobDetail,
  ParameterValue,
  Run,
  RunOverridesBody,
  SchedulerAPIError
} from '../api';
import { errorMessage } from '../ask';
import {
  formatDateField,
  formatTimeField,
  wallTimeInZone,
  zonedWallTimeToDate
} from '../time/zoned';

export type FieldErrors = Record<string, string>;

/** What the dialogs call (the API by default; tests give a fake). */
export interface OrchestrationAPI {
  startRunWith: (jobId: string, body: RunOverridesBody) => Promise<Run>;
  startBackfill: (jobId: string, body: BackfillRequest) => Promise<Backfill>;
}

// ---------------------------------------------------------------- run with

export interface KeyValueRow {
  key: string;
  value: string;
}

export interface RunWithValues {
  parameters: KeyValueRow[];
  env: KeyValueRow[];
  /** Seconds, as typed ('' for the job's own). */
  timeout: string;
}

function rowsOf(object: Record<string, unknown> | null | undefined) {
  return Object.entries(object ?? {}).map(([key, value]) => ({
    key,
    value: String(value)
  }));
}

/** The dialog's values, prefilled with the job's parameters, env and timeout. */
export function runWithValues(job: JobDetail): RunWithValues {
  return {
    parameters: rowsOf(job.parameters),
    env: rowsOf(job.env),
    timeout: job.timeout_seconds ? String(job.timeout_seconds) : ''
  };
}

/** A typed parameter value as the job's value of that key has it. */
function typedValue(text: string, like: unknown): ParameterValue {
  if (typeof like === 'number' && text.trim() !== '' && !isNaN(Number(text))) {
    return Number(text);
  }
  if (typeof like === 'boolean' && (text === 'true' || text === 'false')) {
    return text === 'true';
  }
  return text;
}

/**
 * The body of `POST run/{id}`: what differs from the job's values (the rest
 * is the job's anyway), or the errors of the fields typed wrong.
 */
export function runWithBody(
  job: JobDetail,
  values: RunWithValues,
  trans: TranslationBundle
): { body: RunOverridesBody } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const body: RunOverridesBody = {};
  const own = (job.parameters ?? {}) as Record<string, ParameterValue>;
  const parameters: Record<string, ParameterValue> = {};
  for (const row of values.parameters) {
    const key = row.key.trim();
    if (!key) {
      continue;
    }
    const value = typedValue(row.value, own[key]);
    if (own[key] !== value) {
      parameters[key] = value;
    }
  }
  if (Object.keys(parameters).length) {
    body.parameters = parameters;
  }
  const ownEnv = job.env ?? {};
  const env: Record<string, string> = {};
  for (const row of values.env) {
    const key = row.key.trim();
    if (key && ownEnv[key] !== row.value) {
      env[key] = row.value;
    }
  }
  if (Object.keys(env).length) {
    body.env = env;
  }
  const timeout = values.timeout.trim();
  if (timeout !== '') {
    const seconds = Number(timeout);
    if (!Number.isInteger(seconds) || seconds < 1) {
      errors.timeout_seconds = trans.__(
        'A whole number of seconds, at least 1.'
      );
    } else if (seconds !== job.timeout_seconds) {
      body.timeout_seconds = seconds;
    }
  }
  return Object.keys(errors).length ? { errors } : { body };
}

function RowsEditor(props: {
  name: string;
  label: string;
  rows: KeyValueRow[];
  error?: string;
  trans: TranslationBundle;
  onChange: (rows: KeyValueRow[]) => void;
}): JSX.Element {
  const { rows, trans } = props;
  const set = (index: number, change: Partial<KeyValueRow>) =>
    props.onChange(rows.map((r, i) => (i === index ? { ...r, ...change } : r)));
  return (
    <fieldset
      className="jp-scheduler-dialogRows"
      data-field={props.name}
      aria-invalid={!!props.error}
    >
      <legend>{props.label}</legend>
      {rows.map((row, index) => (
        <div className="jp-scheduler-dialogRow" key={index}>
          <input
            className="jp-mod-styled jp-scheduler-input"
            name={`${props.name}_key_${index}`}
            aria-label={trans.__('%1 name', props.label)}
            value={row.key}
            onChange={e => set(index, { key: e.currentTarget.value })}
          />
          <input
            className="jp-mod-styled jp-scheduler-input"
            name={`${props.name}_value_${index}`}
            aria-label={trans.__('%1 value', props.label)}
            value={row.value}
            onChange={e => set(index, { value: e.currentTarget.value })}
          />
        </div>
      ))}
      <button
        type="button"
        className="jp-scheduler-linkButton"
        data-action={`add-${props.name}`}
        onClick={() => props.onChange([...rows, { key: '', value: '' }])}
      >
        {trans.__('+ Add')}
      </button>
      {props.error && (
        <div className="jp-scheduler-fieldError" role="alert">
          {props.error}
        </div>
      )}
    </fieldset>
  );
}

export function RunWithForm(props: {
  values: RunWithValues;
  errors: FieldErrors;
  message?: string;
  trans: TranslationBundle;
  onChange: (values: RunWithValues) => void;
}): JSX.Element {
  const { values, errors, trans } = props;
  return (
    <div className="jp-scheduler-dialogForm" data-testid="run-with-form">
      <p className="jp-scheduler-muted">
        {trans.__(
          'For this run only: parameters and variables are merged over the job’s, the timeout replaces it.'
        )}
      </p>
      <RowsEditor
        name="parameters"
        label={trans.__('Parameters')}
        rows={values.parameters}
        error={errors.parameters}
        trans={trans}
        onChange={parameters => props.onChange({ ...values, parameters })}
      />
      <RowsEditor
        name="env"
        label={trans.__('Environment variables')}
        rows={values.env}
        error={errors.env}
        trans={trans}
        onChange={env => props.onChange({ ...values, env })}
      />
      <label className="jp-scheduler-dialogField">
        <span>{trans.__('Timeout (seconds)')}</span>
        <input
          className="jp-mod-styled jp-scheduler-input"
          name="timeout_seconds"
          inputMode="numeric"
          placeholder={trans.__('the job’s')}
          aria-invalid={!!errors.timeout_seconds}
          value={values.timeout}
          onChange={e =>
            props.onChange({ ...values, timeout: e.currentTarget.value })
          }
        />
      </label>
      {errors.timeout_seconds && (
        <div className="jp-scheduler-fieldError" role="alert">
          {errors.timeout_seconds}
        </div>
      )}
      {props.message && (
        <div className="jp-scheduler-fieldError" role="alert">
          {props.message}
        </div>
      )}
    </div>
  );
}

// ---------------------------------------------------------------- backfill

export interface BackfillValues {
  /** 'YYYY-MM-DDTHH:MM' wall-clock time in the job's zone (datetime-local). */
  start: string;
  end: string;
  maxActive: string;
}

function localField(instant: Date, zone: string): string {
  const w = wallTimeInZone(instant, zone);
  return `${formatDateField(w.year, w.month, w.day)}T${formatTimeField(w.hour, w.minute)}`;
}

/** A week back to now, in the job's zone, one run at a time. */
export function backfillValues(
  job: JobDetail,
  now = new Date()
): BackfillValues {
  const zone = job.timezone;
  return {
    start: localField(new Date(now.getTime() - 7 * 86400 * 1000), zone),
    end: localField(now, zone),
    maxActive: '1'
  };
}

/** A datetime-local value read in `zone`, as ISO 8601 with its UTC offset. */
export function zonedIso(value: string, zone: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(
    value.trim()
  );
  if (!m) {
    return null;
  }
  const [year, month, day, hour, minute, second] = m
    .slice(1)
    .map(v => (v === undefined ? 0 : parseInt(v, 10)));
  const instant = zonedWallTimeToDate(
    year,
    month,
    day,
    hour,
    minute,
    zone,
    second
  );
  return isNaN(instant.getTime()) ? null : instant.toISOString();
}

/** The body of `POST jobs/{id}/backfill`, or the errors of the fields. */
export function backfillBody(
  job: JobDetail,
  values: BackfillValues,
  trans: TranslationBundle
): { body: BackfillRequest } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const start = zonedIso(values.start, job.timezone);
  const end = zonedIso(values.end, job.timezone);
  if (!start) {
    errors.start = trans.__('Give a date and a time.');
  }
  if (!end) {
    errors.end = trans.__('Give a date and a time.');
  }
  const maxActive = Number(values.maxActive.trim() || '1');
  if (!Number.isInteger(maxActive) || maxActive < 1) {
    errors.max_active = trans.__('A whole number, at least 1.');
  }
  if (Object.keys(errors).length || !start || !end) {
    return { errors };
  }
  return { body: { start, end, max_active: maxActive } };
}

export function BackfillForm(props: {
  job: JobDetail;
  values: BackfillValues;
  errors: FieldErrors;
  message?: string;
  trans: TranslationBundle;
  onChange: (values: BackfillValues) => void;
}): JSX.Element {
  const { values, errors, trans } = props;
  const field = (
    name: 'start' | 'end',
    label: string,
    errorKey: string
  ): JSX.Element => (
    <>
      <label className="jp-scheduler-dialogField">
        <span>{label}</span>
        <input
          type="datetime-local"
          className="jp-mod-styled jp-scheduler-input"
          name={name}
          aria-invalid={!!errors[errorKey]}
          value={values[name]}
          onChange={e =>
            props.onChange({ ...values, [name]: e.currentTarget.value })
          }
        />
      </label>
      {errors[errorKey] && (
        <div
          className="jp-scheduler-fieldError"
          role="alert"
          data-error-for={errorKey}
        >
          {errors[errorKey]}
        </div>
      )}
    </>
  );
  return (
    <div className="jp-scheduler-dialogForm" data-testid="backfill-form">
      <p className="jp-scheduler-muted">
        {trans.__(
          'Runs the job once for every fire time of its schedule in this past range, oldest first. Times are in %1.',
          props.job.timezone
        )}
      </p>
      {field('start', trans.__('From'), 'start')}
      {field('end', trans.__('To'), 'end')}
      <label className="jp-scheduler-dialogField">
        <span>{trans.__('Runs at once')}</span>
        <input
          type="number"
          min={1}
          className="jp-mod-styled jp-scheduler-input"
          name="max_active"
          aria-invalid={!!errors.max_active}
          value={values.maxActive}
          onChange={e =>
            props.onChange({ ...values, maxActive: e.currentTarget.value })
          }
        />
      </label>
      {errors.max_active && (
        <div
          className="jp-scheduler-fieldError"
          role="alert"
          data-error-for="max_active"
        >
          {errors.max_active}
        </div>
      )}
      {props.message && (
        <div className="jp-scheduler-fieldError" role="alert">
          {props.message}
        </div>
      )}
    </div>
  );
}

// ---------------------------------------------------------------- the dialogs

/** What a refusal says: its field messages, and the rest as one message. */
function refusal(
  error: unknown,
  fields: string[]
): {
  errors: FieldErrors;
  message?: string;
} {
  if (error instanceof SchedulerAPIError) {
    const errors: FieldErrors = {};
    for (const [name, text] of Object.entries(error.fields)) {
      if (fields.includes(name)) {
        errors[name] = text;
      }
    }
    return Object.keys(errors).length
      ? { errors }
      : { errors, message: error.message };
  }
  return { errors: {}, message: errorMessage(error) };
}

/**
 * A dialog body that sends its request when the dialog is accepted: the
 * dialog closes only once it was accepted by the server.
 */
export abstract class SubmittingBody<V, B, R>
  extends ReactWidget
  implements Dialog.IBodyWidget<R | null>
{
  constructor(initial: V) {
    super();
    this.values = initial;
    this.addClass('jp-scheduler-dialogBody');
  }

  getValue(): R | null {
    return this.result;
  }

  /** Send the request; answers whether the dialog may close. */
  async submit(): Promise<boolean> {
    if (this.isSending) {
      return false;
    }
    this.isSending = true;
    try {
      this.result = await this.send();
      return this.result !== null;
    } finally {
      this.isSending = false;
      this.update();
    }
  }

  /** The request body from the values typed, or the errors of the fields typed wrong. */
  protected abstract build(): { body: B } | { errors: FieldErrors };

  /** Send the body to the server. */
  protected abstract post(body: B): Promise<R>;

  /** The request fields whose refusal is shown at its field. */
  protected abstract readonly fields: string[];

  /** The answer, or null (and the errors shown) when the body is wrong or refused. */
  protected async send(): Promise<R | null> {
    const built = this.build();
    if ('errors' in built) {
      this.errors = built.errors;
      this.message = undefined;
      return null;
    }
    try {
      return await this.post(built.body);
    } catch (error) {
      ({ errors: this.errors, message: this.message } = refusal(
        error,
        this.fields
      ));
      return null;
    }
  }

  protected setValues = (values: V): void => {
    this.values = values;
    this.update();
  };

  values: V;
  errors: FieldErrors = {};
  message?: string;
  protected result: R | null = null;
  protected isSending = false;
}

export class RunWithBody extends SubmittingBody<
  RunWithValues,
  RunOverridesBody,
  Run
> {
  constructor(
    private _job: JobDetail,
    private _trans: TranslationBundle,
    private _api: OrchestrationAPI
  ) {
    super(runWithValues(_job));
  }

  protected readonly fields = ['parameters', 'env', 'timeout_seconds'];

  protected build(): { body: RunOverridesBody } | { errors: FieldErrors } {
    return runWithBody(this._job, this.values, this._trans);
  }

  protected post(body: RunOverridesBody): Promise<Run> {
    return this._api.startRunWith(this._job.id, body);
  }

  render(): JSX.Element {
    return (
      <RunWithForm
        values={this.values}
        errors={this.errors}
        message={this.message}
        trans={this._trans}
        onChange={this.setValues}
      />
    );
  }
}

export class BackfillBody extends SubmittingBody<
  BackfillValues,
  BackfillRequest,
  Backfill
> {
  constructor(
    private _job: JobDetail,
    private _trans: TranslationBundle,
    private _api: OrchestrationAPI,
    now?: Date
  ) {
    super(backfillValues(_job, now));
  }

  protected readonly fields = ['start', 'end', 'max_active'];

  protected build(): { body: BackfillRequest } | { errors: FieldErrors } {
    return backfillBody(this._job, this.values, this._trans);
  }

  protected post(body: BackfillRequest): Promise<Backfill> {
    return this._api.startBackfill(this._job.id, body);
  }

  render(): JSX.Element {
    return (
      <BackfillForm
        job={this._job}
        values={this.values}
        errors={this.errors}
        message={this.message}
        trans={this._trans}
        onChange={this.setValues}
      />
    );
  }
}

/** A dialog whose accept button closes it only when its body's request went through. */
class SubmittingDialog<R> extends Dialog<R | null> {
  constructor(
    options: Partial<Dialog.IOptions<R | null>>,
    private _submitting: SubmittingBody<unknown, unknown, R>,
    private _buttonList: ReadonlyArray<Dialog.IButton>
  ) {
    super(options);
  }

  resolve(index?: number): void {
    const button = this._buttonList[index ?? this._buttonList.length - 1];
    if (!button?.accept) {
      super.resolve(index);
      return;
    }
    void this._submitting.submit().then(ok => {
      if (ok) {
        super.resolve(index);
      }
    });
  }
}

async function launch<R>(
  title: string,
  accept: string,
  body: SubmittingBody<any, any, R>,
  trans: TranslationBundle
): Promise<R | null> {
  const buttons = [
    Dialog.cancelButton({ label: trans.__('Cancel') }),
    Dialog.okButton({ label: accept })
  ];
  const dialog = new SubmittingDialog<R>(
    { title, body, buttons },
    body,
    buttons
  );
  const result = await dialog.launch();
  return result.button.accept ? result.value : null;
}

/** "Run with…": answers the started run, or null when cancelled. */
export function showRunWithDialog(
  job: JobDetail,
  trans: TranslationBundle,
  client: OrchestrationAPI = defaultApi
): Promise<Run | null> {
  return launch(
    trans.__('Run “%1” with…', job.name),
    trans.__('Run'),
    new RunWithBody(job, trans, client),
    trans
  );
}

/** "Backfill…": answers the started backfill, or null when cancelled. */
export function showBackfillDialog(
  job: JobDetail,
  trans: TranslationBundle,
  client: OrchestrationAPI = defaultApi
): Promise<Backfill | null> {
  return launch(
    trans.__('Backfill “%1”', job.name),
    trans.__('Start backfill'),
    new BackfillBody(job, trans, client),
    trans
  );
}

/** Whether a job has fire times to backfill (not event-triggered, not a one-off). */
export function canBackfill(job: {
  schedule_type?: string | null;
  date_type?: string | null;
}): boolean {
  const kind = job.schedule_type;
  if (kind === 'interval' || kind === 'cron') {
    return true;
  }
  return kind === 'date' && (job.date_type ?? 'once') !== 'once';
}
