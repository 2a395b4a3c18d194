import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, closeIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { FormMode } from '../model';
import { countAdvanced } from '../form/convert';
import { ALERT_KINDS, AlertOn, CatchupPolicy } from '../form/spec';
import { FormState, KeyValue, SecretRow } from '../form/state';
import { isNotebookPath } from '../paths';
import { formatDuration } from '../time';
import { Field } from './Field';
import type { FieldErrors } from './Field';

export interface AdvancedSectionProps {
  form: FormState;
  mode: FormMode;
  trans: TranslationBundle;
  errors: FieldErrors;
  kernelNames: string[];
  isOpen: boolean;
  onToggle: (isOpen: boolean) => void;
  update: (patch: Partial<FormState>) => void;
}

const KERNELS_LIST_ID = 'jp-scheduler-kernelNames';

/** "30 s, 1 min, 2 min" for retries waiting `delay` seconds, doubling. */
function retryDelays(retries: string, delay: string): string | null {
  const n = parseInt(retries, 10);
  const d = parseInt(delay, 10);
  if (!(n > 0) || !(d > 0) || n > 10) {
    return null;
  }
  const delays = Array.from({ length: Math.min(n, 4) }, (_, i) =>
    formatDuration(d * 2 ** i)
  );
  return delays.join(', ') + (n > 4 ? ', …' : '');
}

/**
 * The job's execution options, closed by default: timeout, retries,
 * overlapping runs, missed runs, environment, secrets, parameters,
 * interpreter, working folder, kernel, failure webhook, deadlines and alert
 * channels.
 */
export function AdvancedSection(props: AdvancedSectionProps): JSX.Element {
  const { form, trans, errors, update } = props;
  const count = countAdvanced(form);
  const isNotebook = isNotebookPath(form.pipelinePath);
  const delays = retryDelays(form.maxRetries, form.retryDelaySeconds);

  const numberInput = (
    id: string,
    name: string,
    key: keyof FormState,
    min: number,
    placeholder: string
  ) => (
    <input
      id={id}
      className="jp-mod-styled jp-scheduler-input"
      name={name}
      type="number"
      min={min}
      step={1}
      inputMode="numeric"
      placeholder={placeholder}
      value={form[key] as string}
      aria-invalid={!!errors[key]}
      onChange={e => update({ [key]: e.currentTarget.value })}
    />
  );

  const textInput = (
    id: string,
    name: string,
    key: keyof FormState,
    placeholder: string,
    extra: React.InputHTMLAttributes<HTMLInputElement> = {}
  ) => (
    <input
      id={id}
      className="jp-mod-styled jp-scheduler-input jp-scheduler-mono"
      name={name}
      placeholder={placeholder}
      spellCheck={false}
      value={form[key] as string}
      aria-invalid={!!errors[key]}
      onChange={e => update({ [key]: e.currentTarget.value })}
      {...extra}
    />
  );

  return (
    <details
      className="jp-scheduler-advanced"
      open={props.isOpen}
      onToggle={e => props.onToggle(e.currentTarget.open)}
      data-testid="advanced"
    >
      <summary data-action="toggle-advanced">
        {trans.__('Advanced')}
        {count > 0 && (
          <span className="jp-scheduler-count" data-count={count}>
            {trans._n('%1 set', '%1 set', count)}
          </span>
        )}
      </summary>
      <div className="jp-scheduler-advancedBody">
        <Field
          label={trans.__('Timeout (seconds)')}
          id="jp-scheduler-timeout"
          field="timeout_seconds"
          error={errors.timeoutSeconds}
          hint={trans.__(
            'A run still going after this long is stopped (status: timed out). Empty: no limit.'
          )}
        >
          {numberInput(
            'jp-scheduler-timeout',
            'timeout_seconds',
            'timeoutSeconds',
            1,
            trans.__('no limit')
          )}
        </Field>

        <div className="jp-scheduler-pair">
          <Field
            label={trans.__('Retries')}
            id="jp-scheduler-retries"
            field="max_retries"
            error={errors.maxRetries}
          >
            {numberInput(
              'jp-scheduler-retries',
              'max_retries',
              'maxRetries',
              0,
              '0'
            )}
          </Field>
          <Field
            label={trans.__('Retry delay (s)')}
            id="jp-scheduler-retryDelay"
            field="retry_delay_seconds"
            error={errors.retryDelaySeconds}
          >
            {numberInput(
              'jp-scheduler-retryDelay',
              'retry_delay_seconds',
              'retryDelaySeconds',
              0,
              '0'
            )}
          </Field>
        </div>
        <p className="jp-scheduler-hint">
          {trans.__(
            'A failed or timed-out run is tried again up to this many times (0 to 10); the delay doubles after each attempt.'
          )}
          {delays && (
            <>
              {' '}
              <span data-testid="retry-delays">
                {trans.__('Here: %1.', delays)}
              </span>
            </>
          )}
        </p>

        <Field
          label={trans.__('Overlapping runs allowed')}
          id="jp-scheduler-maxInstances"
          field="max_instances"
          error={errors.maxInstances}
          hint={trans.__(
            'A scheduled run that would exceed it is recorded as skipped; manual runs are not limited.'
          )}
        >
          {numberInput(
            'jp-scheduler-maxInstances',
            'max_instances',
            'maxInstances',
            1,
            trans.__('server default')
          )}
        </Field>

        <Field
          label={trans.__('Missed runs')}
          id="jp-scheduler-catchup"
          field="catchup"
          error={errors.catchup}
          hint={trans.__(
            'Fire times missed while no server was running: run the latest once at start-up, run each of them (never more at once than the max instances), or record them as skipped.'
          )}
        >
          <select
            id="jp-scheduler-catchup"
            className="jp-mod-styled jp-scheduler-input"
            name="catchup"
            value={form.catchup}
            aria-invalid={!!errors.catchup}
            onChange={e =>
              update({ catchup: e.currentTarget.value as '' | CatchupPolicy })
            }
          >
            <option value="">{trans.__('Server default')}</option>
            <option value="latest">{trans.__('Run the latest')}</option>
            <option value="all">{trans.__('Run all')}</option>
            <option value="none">{trans.__('Skip')}</option>
            {form.catchup === 'run_once' && (
              <option value="run_once">
                {trans.__('Run the latest (run_once)')}
              </option>
            )}
            {form.catchup === 'skip' && (
              <option value="skip">{trans.__('Skip (skip)')}</option>
            )}
          </select>
        </Field>

        <KeyValueField
          label={trans.__('Environment variables')}
          field="env"
          rows={form.env}
          error={errors.env}
          trans={trans}
          addLabel={trans.__('+ Add a variable')}
          hint={trans.__('Shown in the job’s details.')}
          onChange={rows => update({ env: rows })}
        />

        <KeyValueField
          label={trans.__('Secret variables')}
          field="secret_env"
          rows={form.secretEnv}
          error={errors.secretEnv}
          trans={trans}
          secret
          addLabel={trans.__('+ Add a secret')}
          hint={trans.__(
            'Environment variables whose values are never shown again: not in the job, and replaced by *** in logs.'
          )}
          onChange={rows => update({ secretEnv: rows as SecretRow[] })}
        />

        <KeyValueField
          label={trans.__('Parameters')}
          field="parameters"
          rows={form.parameters}
          error={errors.parameters}
          trans={trans}
          addLabel={trans.__('+ Add a parameter')}
          hint={trans.__(
            'Passed as environment variables, and all together as JSON in AMPHI_PARAMETERS. 100, -2.5, true and false are sent as numbers and booleans; anything else as text.'
          )}
          onChange={rows => update({ parameters: rows })}
        />

        <Field
          label={trans.__('Python interpreter')}
          id="jp-scheduler-python"
          field="python_executable"
          error={errors.pythonExecutable}
          hint={
            isNotebook
              ? trans.__(
                  'Not used by notebooks: they run in their kernel (below).'
                )
              : trans.__(
                  'Absolute path of another environment’s python. Empty: the server’s Python.'
                )
          }
        >
          {textInput(
            'jp-scheduler-python',
            'python_executable',
            'pythonExecutable',
            '/opt/envs/etl/bin/python'
          )}
        </Field>

        <Field
          label={trans.__('Working folder')}
          id="jp-scheduler-workingDir"
          field="working_dir"
          error={errors.workingDir}
          hint={trans.__(
            'A folder inside the workspace, e.g. "etl". Empty: the pipeline’s own folder.'
          )}
        >
          {textInput(
            'jp-scheduler-workingDir',
            'working_dir',
            'workingDir',
            trans.__('the pipeline’s folder')
          )}
        </Field>

        {isNotebook && (
          <Field
            label={trans.__('Kernel')}
            id="jp-scheduler-kernel"
            field="kernel_name"
            error={errors.kernelName}
            hint={trans.__('Empty: the kernel the notebook was saved with.')}
          >
            {textInput(
              'jp-scheduler-kernel',
              'kernel_name',
              'kernelName',
              trans.__('the notebook’s kernel'),
              { list: KERNELS_LIST_ID }
            )}
            <datalist id={KERNELS_LIST_ID}>
              {props.kernelNames.map(name => (
                <option key={name} value={name} />
              ))}
            </datalist>
          </Field>
        )}

        <Field
          label={trans.__('Failure webhook URL')}
          id="jp-scheduler-webhook"
          field="webhook_url"
          error={errors.webhookUrl}
          hint={trans.__(
            'Receives a JSON POST when a run fails or times out (after its last retry).'
          )}
        >
          {textInput(
            'jp-scheduler-webhook',
            'webhook_url',
            'webhookUrl',
            'https://hooks.example/amphi',
            { type: 'url', inputMode: 'url' }
          )}
        </Field>

        <fieldset
          className="jp-scheduler-fieldset jp-scheduler-alerts"
          data-testid="deadlines-and-alerts"
        >
          <legend>{trans.__('Deadlines and alerts')}</legend>
          <Field
            label={trans.__('Must have succeeded by (HH:MM)')}
            id="jp-scheduler-deadline"
            field="deadline_time"
            error={errors.deadlineTime}
            hint={trans.__(
              'Each day, in the job’s time zone (%1): without a successful run since the day before’s deadline, a deadline alert is sent. Empty: no deadline.',
              form.timezone
            )}
          >
            {textInput(
              'jp-scheduler-deadline',
              'deadline_time',
              'deadlineTime',
              '07:00',
              { inputMode: 'numeric', autoComplete: 'off' }
            )}
          </Field>
          <Field
            label={trans.__('Max duration (minutes)')}
            id="jp-scheduler-maxDuration"
            field="max_duration_minutes"
            error={errors.maxDurationMinutes}
            hint={trans.__(
              'A run still queued or running this long after it was asked for sends a deadline alert (it is not stopped: the timeout does that).'
            )}
          >
            {numberInput(
              'jp-scheduler-maxDuration',
              'max_duration_minutes',
              'maxDurationMinutes',
              1,
              trans.__('no limit')
            )}
          </Field>
          <Field
            label={trans.__('Slack webhook URL')}
            id="jp-scheduler-slack"
            field="slack_webhook_url"
            error={errors.slackWebhookUrl}
            hint={trans.__(
              'A Slack-compatible incoming webhook: gets a readable message for each alert. Empty: the server’s.'
            )}
          >
            {textInput(
              'jp-scheduler-slack',
              'slack_webhook_url',
              'slackWebhookUrl',
              'https://hooks.slack.com/services/…',
              { type: 'url', inputMode: 'url' }
            )}
          </Field>
          <Field
            label={trans.__('Alert e-mails')}
            id="jp-scheduler-alertEmails"
            field="alert_emails"
            error={errors.alertEmails}
            hint={trans.__(
              'Addresses separated by commas (sent through the server’s SMTP settings). Empty: the server’s.'
            )}
          >
            {textInput(
              'jp-scheduler-alertEmails',
              'alert_emails',
              'alertEmails',
              'ops@example.org',
              { inputMode: 'email', autoComplete: 'off' }
            )}
          </Field>
          <div
            className="jp-scheduler-field"
            data-field="alert_on"
            data-invalid={errors.alertOn ? 'true' : undefined}
          >
            <span
              className="jp-scheduler-groupLabel"
              id="jp-scheduler-alertOn-label"
            >
              {trans.__('Alert on')}
            </span>
            <div role="group" aria-labelledby="jp-scheduler-alertOn-label">
              {ALERT_KINDS.map(kind => (
                <label key={kind} className="jp-scheduler-checkbox">
                  <input
                    type="checkbox"
                    name={`alert_on_${kind}`}
                    checked={form.alertOn.includes(kind)}
                    onChange={e =>
                      update({
                        alertOn: e.currentTarget.checked
                          ? ALERT_KINDS.filter(
                              k => k === kind || form.alertOn.includes(k)
                            )
                          : form.alertOn.filter(k => k !== kind)
                      })
                    }
                  />
                  {alertOnLabel(kind, trans)}
                </label>
              ))}
            </div>
            <div className="jp-scheduler-hint">
              {trans.__(
                'Sent to the webhooks and e-mails above (or the server’s). All three: the server’s setting, under which the JSON webhook gets failures only.'
              )}
            </div>
            {errors.alertOn && (
              <div
                className="jp-scheduler-fieldError"
                role="alert"
                data-testid="field-error"
              >
                {errors.alertOn}
              </div>
            )}
          </div>
        </fieldset>
      </div>
    </details>
  );
}

function alertOnLabel(kind: AlertOn, trans: TranslationBundle): string {
  switch (kind) {
    case 'failure':
      return trans.__('a failure (after the last retry)');
    case 'recovery':
      return trans.__('the first success after a failure');
    case 'deadline':
      return trans.__('a missed deadline or max duration');
  }
}

interface KeyValueFieldProps {
  label: string;
  /** The JobSpec field: env, secret_env or parameters. */
  field: string;
  rows: ReadonlyArray<KeyValue | SecretRow>;
  error?: string;
  hint: string;
  addLabel: string;
  secret?: boolean;
  trans: TranslationBundle;
  onChange: (rows: Array<KeyValue | SecretRow>) => void;
}

/** Name/value rows: environment variables, secrets or parameters. */
function KeyValueField(props: KeyValueFieldProps): JSX.Element {
  const { rows, field, trans, secret } = props;
  const labelId = `jp-scheduler-${field}-label`;
  const set = (index: number, patch: Partial<SecretRow>) =>
    props.onChange(rows.map((r, i) => (i === index ? { ...r, ...patch } : r)));
  return (
    <div
      className="jp-scheduler-field"
      data-field={field}
      data-invalid={props.error ? 'true' : undefined}
    >
      <span className="jp-scheduler-groupLabel" id={labelId}>
        {props.label}
      </span>
      {rows.length > 0 && (
        <ul
          className="jp-scheduler-kvRows"
          role="group"
          aria-labelledby={labelId}
        >
          {rows.map((row, index) => {
            const isStored = secret && (row as SecretRow).stored;
            return (
              <li key={index} className="jp-scheduler-kvRow">
                <input
                  className="jp-mod-styled jp-scheduler-input jp-scheduler-mono jp-scheduler-kvKey"
                  name={`${field}_key_${index}`}
                  aria-label={trans.__('Name')}
                  placeholder={trans.__('NAME')}
                  spellCheck={false}
                  autoComplete="off"
                  value={row.key}
                  readOnly={isStored}
                  title={
                    isStored
                      ? trans.__(
                          'Stored on the server. Remove the row to delete it.'
                        )
                      : undefined
                  }
                  aria-invalid={!!props.error}
                  onChange={e => set(index, { key: e.currentTarget.value })}
                />
                <input
                  className={`jp-mod-styled jp-scheduler-input jp-scheduler-mono jp-scheduler-kvValue${
                    isStored ? ' jp-scheduler-storedSecret' : ''
                  }`}
                  name={`${field}_value_${index}`}
                  aria-label={trans.__(
                    'Value of %1',
                    row.key || trans.__('the variable')
                  )}
                  type={secret ? 'password' : 'text'}
                  autoComplete={secret ? 'new-password' : 'off'}
                  spellCheck={false}
                  placeholder={
                    isStored
                      ? trans.__('set — leave empty to keep')
                      : trans.__('value')
                  }
                  title={
                    isStored
                      ? trans.__(
                          '%1 is set on the server. Leave this empty to keep its value.',
                          row.key
                        )
                      : undefined
                  }
                  value={row.value}
                  aria-invalid={!!props.error}
                  onChange={e => set(index, { value: e.currentTarget.value })}
                />
                <button
                  type="button"
                  className="jp-scheduler-iconButton"
                  aria-label={trans.__(
                    'Remove %1',
                    row.key || trans.__('this row')
                  )}
                  title={trans.__('Remove %1', row.key || trans.__('this row'))}
                  data-action={`remove-${field}`}
                  onClick={() =>
                    props.onChange(rows.filter((_, i) => i !== index))
                  }
                >
                  <closeIcon.react tag="span" elementSize="normal" />
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <div>
        <Button
          type="button"
          small
          minimal
          data-action={`add-${field}`}
          onClick={() =>
            props.onChange([
              ...rows,
              secret
                ? { key: '', value: '', stored: false }
                : { key: '', value: '' }
            ])
          }
        >
          {props.addLabel}
        </Button>
      </div>
      <div className="jp-scheduler-hint">{props.hint}</div>
      {props.error && (
        <div
          className="jp-scheduler-fieldError"
          role="alert"
          data-testid="field-error"
        >
          {props.error}
        </div>
      )}
    </div>
  );
}
