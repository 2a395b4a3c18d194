import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, closeIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { SchedulerAPIError } from '../api';
import type { Job, SchedulePreview } from '../api';
import type { FormMode, SchedulerModel } from '../model';
import { errorMessage } from '../model';
import { placeServerError } from '../errors';
import { TriggerOn } from '../form/spec';
import {
  ADVANCED_FIELDS,
  FormError,
  FormState,
  IntervalUnit,
  ScheduleKind,
  SCHEDULE_KINDS
} from '../form/state';
import { isAmplnPath, isNotebookPath } from '../paths';
import { AdvancedSection } from './AdvancedSection';
import { Field } from './Field';
import type { FieldErrors } from './Field';
import { formatAbsolute, formatRelative } from '../time';
import { choosePipeline } from './PipelinePicker';

export interface JobFormProps {
  model: SchedulerModel;
  trans: TranslationBundle;
  mode: FormMode;
  jobId?: string;
  initial: FormState;
  onCancel: () => void;
}

type PreviewState =
  | { kind: 'idle' }
  | { kind: 'loading' }
  | { kind: 'ok'; preview: SchedulePreview }
  | { kind: 'error'; message: string };

const PREVIEW_DELAY_MS = 400;

/** The fields that change the schedule, i.e. what the preview depends on. */
function scheduleKey(form: FormState): string {
  return JSON.stringify([
    form.kind,
    form.date,
    form.time,
    form.weekday,
    form.dayOfMonth,
    form.intervalDays,
    form.intervalValue,
    form.intervalUnit,
    form.cronExpression,
    form.logicalOperator,
    form.conditions,
    form.timezone
  ]);
}

function kindLabel(trans: TranslationBundle, kind: ScheduleKind): string {
  switch (kind) {
    case 'once':
      return trans.__('Once, at a date and time');
    case 'daily':
      return trans.__('Every day');
    case 'weekly':
      return trans.__('Every week');
    case 'monthly':
      return trans.__('Every month');
    case 'every_x_days':
      return trans.__('Every N days');
    case 'interval':
      return trans.__('Every N seconds, minutes or hours');
    case 'cron':
      return trans.__('Cron expression');
    case 'trigger':
      return trans.__('After other jobs');
  }
}

function weekdayNames(trans: TranslationBundle): [number, string][] {
  return [
    [1, trans.__('Monday')],
    [2, trans.__('Tuesday')],
    [3, trans.__('Wednesday')],
    [4, trans.__('Thursday')],
    [5, trans.__('Friday')],
    [6, trans.__('Saturday')],
    [0, trans.__('Sunday')]
  ];
}

const SCHEDULE_ERROR_ID = 'jp-scheduler-scheduleError';

/** Form fields whose errors show at the field (the schedule's show in the "When" box). */
const FIELD_ERRORS: ReadonlyArray<keyof FormState> = [
  'name',
  'pipelinePath',
  'description',
  ...ADVANCED_FIELDS
];

export function JobForm(props: JobFormProps): JSX.Element {
  const { model, trans, mode, jobId } = props;
  const [form, setForm] = React.useState<FormState>(props.initial);
  const [preview, setPreview] = React.useState<PreviewState>({ kind: 'idle' });
  const [fieldErrors, setFieldErrors] = React.useState<FieldErrors>({});
  const [saveError, setSaveError] = React.useState<string | null>(null);
  const [isSaving, setIsSaving] = React.useState(false);
  const [advancedOpen, setAdvancedOpen] = React.useState(false);
  const nameRef = React.useRef<HTMLInputElement>(null);
  const formRef = React.useRef<HTMLFormElement>(null);

  React.useEffect(() => {
    nameRef.current?.focus();
  }, []);

  // After a refused save, bring the first field in error into view.
  const [errorRound, setErrorRound] = React.useState(0);
  React.useEffect(() => {
    if (errorRound === 0) {
      return;
    }
    const node = formRef.current?.querySelector(
      '.jp-scheduler-field[data-invalid="true"]'
    );
    node?.scrollIntoView({ block: 'nearest' });
    (
      node?.querySelector('input[aria-invalid="true"], select') as
        HTMLElement | undefined
    )?.focus();
  }, [errorRound]);

  const showFieldErrors = (errors: FieldErrors) => {
    setFieldErrors(errors);
    if (ADVANCED_FIELDS.some(field => errors[field])) {
      setAdvancedOpen(true);
    }
    setErrorRound(n => n + 1);
  };

  const update = (patch: Partial<FormState>) => {
    setForm(previous => ({ ...previous, ...patch }));
    const touched = Object.keys(patch);
    if (touched.some(k => fieldErrors[k as keyof FormState])) {
      setFieldErrors(previous => {
        const next = { ...previous };
        touched.forEach(k => delete next[k as keyof FormState]);
        return next;
      });
    }
  };

  // Live preview: ask the server, debounced, and keep only the latest answer.
  const key = scheduleKey(form);
  const latest = React.useRef(0);
  React.useEffect(() => {
    const request = ++latest.current;
    if (form.kind === 'trigger' && form.conditions.every(c => !c.job_id)) {
      setPreview({ kind: 'idle' });
      return;
    }
    setPreview({ kind: 'loading' });
    const timer = window.setTimeout(() => {
      let pending: Promise<SchedulePreview>;
      try {
        pending = model.previewSchedule(form, jobId);
      } catch (error) {
        setPreview({ kind: 'error', message: trans.__(errorMessage(error)) });
        return;
      }
      pending
        .then(answer => {
          if (request === latest.current) {
            setPreview({ kind: 'ok', preview: answer });
          }
        })
        .catch(error => {
          if (request === latest.current) {
            setPreview({ kind: 'error', message: errorMessage(error) });
          }
        });
    }, PREVIEW_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [key]);

  const onSubmit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (isSaving) {
      return;
    }
    setSaveError(null);
    setFieldErrors({});
    setIsSaving(true);
    try {
      await model.saveJob(form, mode, jobId);
    } catch (error) {
      if (error instanceof FormError && FIELD_ERRORS.includes(error.field)) {
        showFieldErrors({ [error.field]: trans.__(error.message) });
      } else if (error instanceof FormError) {
        setPreview({ kind: 'error', message: trans.__(error.message) });
      } else if (error instanceof SchedulerAPIError) {
        // "timeout_seconds: ..." goes under the timeout field, and so on.
        const placed = placeServerError(error.message);
        if (Object.keys(placed.fields).length) {
          showFieldErrors(placed.fields);
        }
        setSaveError(placed.rest.length ? placed.rest.join('; ') : null);
      } else {
        setSaveError(errorMessage(error));
      }
      setIsSaving(false);
    }
  };

  const browse = async () => {
    const path = await choosePipeline(model, trans, form.pipelinePath);
    if (path !== null) {
      const patch: Partial<FormState> = { pipelinePath: path };
      if (!form.name.trim()) {
        const base = path.split('/').pop() || path;
        patch.name = base.replace(/\.[^.]+$/, '');
      }
      update(patch);
    }
  };

  const scheduleInvalid = preview.kind === 'error';
  const describedBy = scheduleInvalid ? SCHEDULE_ERROR_ID : undefined;
  const otherJobs = model.jobs.filter(j => j.id !== jobId);

  const title =
    mode === 'edit'
      ? trans.__('Edit job')
      : mode === 'duplicate'
        ? trans.__('Duplicate job')
        : trans.__('New job');

  return (
    <form
      ref={formRef}
      className="jp-scheduler-form"
      onSubmit={onSubmit}
      onKeyDown={event => {
        if (event.key === 'Escape' && !event.defaultPrevented) {
          event.preventDefault();
          props.onCancel();
        }
      }}
      aria-label={title}
      data-mode={mode}
      noValidate
    >
      <div className="jp-scheduler-formHeader">
        <h3>{title}</h3>
        <button
          type="button"
          className="jp-scheduler-iconButton"
          onClick={props.onCancel}
          aria-label={trans.__('Close the form')}
          title={trans.__('Close the form')}
        >
          <closeIcon.react tag="span" elementSize="normal" />
        </button>
      </div>

      <Field
        label={trans.__('Name')}
        id="jp-scheduler-name"
        field="name"
        error={fieldErrors.name}
      >
        <input
          id="jp-scheduler-name"
          ref={nameRef}
          className="jp-mod-styled jp-scheduler-input"
          name="name"
          value={form.name}
          maxLength={200}
          aria-invalid={!!fieldErrors.name}
          onChange={e => update({ name: e.currentTarget.value })}
        />
      </Field>

      <Field
        label={trans.__('Pipeline')}
        id="jp-scheduler-path"
        field="pipeline_path"
        error={fieldErrors.pipelinePath}
        hint={
          isAmplnPath(form.pipelinePath)
            ? trans.__(
                "The code of this .ampln pipeline is generated by Amphi's editor when you save."
              )
            : isNotebookPath(form.pipelinePath)
              ? trans.__(
                  'The notebook runs with nbclient; each run keeps its executed copy to download.'
                )
              : undefined
        }
      >
        <div className="jp-scheduler-row">
          <input
            id="jp-scheduler-path"
            className="jp-mod-styled jp-scheduler-input"
            name="pipeline_path"
            value={form.pipelinePath}
            placeholder={trans.__('folder/pipeline.py')}
            aria-invalid={!!fieldErrors.pipelinePath}
            onChange={e => update({ pipelinePath: e.currentTarget.value })}
          />
          <Button type="button" small onClick={browse} data-action="browse">
            {trans.__('Browse…')}
          </Button>
        </div>
      </Field>

      <Field
        label={trans.__('Description (optional)')}
        id="jp-scheduler-description"
        field="description"
        error={fieldErrors.description}
      >
        <textarea
          id="jp-scheduler-description"
          className="jp-mod-styled jp-scheduler-input"
          rows={2}
          maxLength={2000}
          value={form.description}
          onChange={e => update({ description: e.currentTarget.value })}
        />
      </Field>

      <fieldset className="jp-scheduler-fieldset">
        <legend>{trans.__('When')}</legend>
        <Field label={trans.__('Schedule')} id="jp-scheduler-kind">
          <select
            id="jp-scheduler-kind"
            className="jp-mod-styled jp-scheduler-input"
            name="kind"
            value={form.kind}
            onChange={e =>
              update({ kind: e.currentTarget.value as ScheduleKind })
            }
          >
            {SCHEDULE_KINDS.map(kind => (
              <option key={kind} value={kind}>
                {kindLabel(trans, kind)}
              </option>
            ))}
          </select>
        </Field>

        {form.kind === 'weekly' && (
          <Field label={trans.__('Day of the week')} id="jp-scheduler-weekday">
            <select
              id="jp-scheduler-weekday"
              className="jp-mod-styled jp-scheduler-input"
              name="weekday"
              value={form.weekday}
              onChange={e => update({ weekday: +e.currentTarget.value })}
            >
              {weekdayNames(trans).map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </Field>
        )}

        {form.kind === 'monthly' && (
          <Field label={trans.__('Day of the month')} id="jp-scheduler-dom">
            <select
              id="jp-scheduler-dom"
              className="jp-mod-styled jp-scheduler-input"
              name="dayOfMonth"
              value={form.dayOfMonth}
              onChange={e => update({ dayOfMonth: +e.currentTarget.value })}
            >
              {Array.from({ length: 31 }, (_, i) => i + 1).map(day => (
                <option key={day} value={day}>
                  {day}
                </option>
              ))}
            </select>
          </Field>
        )}

        {form.kind === 'every_x_days' && (
          <Field label={trans.__('Every how many days')} id="jp-scheduler-days">
            <input
              id="jp-scheduler-days"
              className="jp-mod-styled jp-scheduler-input"
              name="interval_days"
              type="number"
              min={1}
              value={form.intervalDays}
              aria-invalid={scheduleInvalid}
              aria-describedby={describedBy}
              onChange={e => update({ intervalDays: e.currentTarget.value })}
            />
          </Field>
        )}

        {(form.kind === 'once' || form.kind === 'every_x_days') && (
          <Field
            label={
              form.kind === 'once'
                ? trans.__('Date')
                : trans.__('Starting on (optional)')
            }
            id="jp-scheduler-date"
          >
            <input
              id="jp-scheduler-date"
              className="jp-mod-styled jp-scheduler-input"
              name="date"
              type="date"
              value={form.date}
              aria-invalid={scheduleInvalid}
              aria-describedby={describedBy}
              onChange={e => update({ date: e.currentTarget.value })}
            />
          </Field>
        )}

        {['once', 'daily', 'weekly', 'monthly', 'every_x_days'].includes(
          form.kind
        ) && (
          <Field label={trans.__('Time')} id="jp-scheduler-time">
            <input
              id="jp-scheduler-time"
              className="jp-mod-styled jp-scheduler-input"
              name="time"
              type="time"
              value={form.time}
              aria-invalid={scheduleInvalid}
              aria-describedby={describedBy}
              onChange={e => update({ time: e.currentTarget.value })}
            />
          </Field>
        )}

        {form.kind === 'interval' && (
          <Field label={trans.__('Every')} id="jp-scheduler-interval">
            <div className="jp-scheduler-row">
              <input
                id="jp-scheduler-interval"
                className="jp-mod-styled jp-scheduler-input"
                name="interval_value"
                type="number"
                min={1}
                value={form.intervalValue}
                aria-invalid={scheduleInvalid}
                aria-describedby={describedBy}
                onChange={e => update({ intervalValue: e.currentTarget.value })}
              />
              <select
                className="jp-mod-styled jp-scheduler-input"
                name="interval_unit"
                aria-label={trans.__('Unit')}
                value={form.intervalUnit}
                onChange={e =>
                  update({
                    intervalUnit: e.currentTarget.value as IntervalUnit
                  })
                }
              >
                <option value="seconds">{trans.__('seconds')}</option>
                <option value="minutes">{trans.__('minutes')}</option>
                <option value="hours">{trans.__('hours')}</option>
                <option value="days">{trans.__('days')}</option>
              </select>
            </div>
          </Field>
        )}

        {form.kind === 'cron' && (
          <Field
            label={trans.__('Cron expression')}
            id="jp-scheduler-cron"
            hint={trans.__(
              'minute hour day-of-month month day-of-week, e.g. "*/15 9-17 * * mon-fri"; a sixth field first means seconds.'
            )}
          >
            <input
              id="jp-scheduler-cron"
              className="jp-mod-styled jp-scheduler-input jp-scheduler-mono"
              name="cron_expression"
              value={form.cronExpression}
              spellCheck={false}
              aria-invalid={scheduleInvalid}
              aria-describedby={describedBy}
              onChange={e => update({ cronExpression: e.currentTarget.value })}
            />
          </Field>
        )}

        {form.kind === 'trigger' && (
          <TriggerFields
            form={form}
            jobs={otherJobs}
            trans={trans}
            update={update}
          />
        )}

        {preview.kind === 'error' && (
          <div
            id={SCHEDULE_ERROR_ID}
            className="jp-scheduler-fieldError"
            role="alert"
            data-testid="schedule-error"
          >
            {preview.message}
          </div>
        )}

        <p className="jp-scheduler-hint">
          {trans.__('Times are in your time zone, %1.', form.timezone)}
        </p>

        <PreviewBox preview={preview} trans={trans} />
      </fieldset>

      <label className="jp-scheduler-checkbox">
        <input
          type="checkbox"
          name="paused"
          checked={form.paused}
          onChange={e => update({ paused: e.currentTarget.checked })}
        />
        {trans.__('Paused (keep the job but do not run it on schedule)')}
      </label>

      <AdvancedSection
        form={form}
        mode={mode}
        trans={trans}
        errors={fieldErrors}
        kernelNames={model.kernelNames}
        isOpen={advancedOpen}
        onToggle={setAdvancedOpen}
        update={update}
      />

      {saveError && (
        <div
          className="jp-scheduler-formError"
          role="alert"
          data-testid="save-error"
        >
          {saveError}
        </div>
      )}

      <div className="jp-scheduler-formButtons">
        <button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          onClick={props.onCancel}
        >
          {trans.__('Cancel')}
        </button>
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={isSaving}
          data-action="save"
        >
          {isSaving
            ? trans.__('Saving…')
            : mode === 'edit'
              ? trans.__('Save changes')
              : trans.__('Create job')}
        </button>
      </div>
    </form>
  );
}

interface TriggerFieldsProps {
  form: FormState;
  jobs: Job[];
  trans: TranslationBundle;
  update: (patch: Partial<FormState>) => void;
}

function TriggerFields(props: TriggerFieldsProps): JSX.Element {
  const { form, jobs, trans, update } = props;
  const setCondition = (
    index: number,
    patch: Partial<(typeof form.conditions)[0]>
  ) =>
    update({
      conditions: form.conditions.map((c, i) =>
        i === index ? { ...c, ...patch } : c
      )
    });
  if (jobs.length === 0) {
    return (
      <p className="jp-scheduler-hint">
        {trans.__(
          'There is no other job to follow yet. Create the job this one should run after first.'
        )}
      </p>
    );
  }
  return (
    <div className="jp-scheduler-trigger">
      <Field label={trans.__('Run when')} id="jp-scheduler-operator">
        <select
          id="jp-scheduler-operator"
          className="jp-mod-styled jp-scheduler-input"
          name="logical_operator"
          value={form.logicalOperator}
          onChange={e =>
            update({
              logicalOperator: e.currentTarget.value as 'AND' | 'OR'
            })
          }
        >
          <option value="OR">
            {trans.__('any of these conditions is met (OR)')}
          </option>
          <option value="AND">
            {trans.__('all of these conditions are met (AND)')}
          </option>
        </select>
      </Field>
      <ul
        className="jp-scheduler-conditions"
        aria-label={trans.__('Conditions')}
      >
        {form.conditions.map((condition, index) => (
          <li key={index} className="jp-scheduler-row">
            <select
              className="jp-mod-styled jp-scheduler-input"
              name={`condition_job_${index}`}
              aria-label={trans.__('Job')}
              value={condition.job_id}
              onChange={e =>
                setCondition(index, { job_id: e.currentTarget.value })
              }
            >
              <option value="">{trans.__('Choose a job…')}</option>
              {jobs.map(job => (
                <option key={job.id} value={job.id}>
                  {job.name}
                </option>
              ))}
            </select>
            <select
              className="jp-mod-styled jp-scheduler-input jp-scheduler-narrow"
              name={`condition_on_${index}`}
              aria-label={trans.__('Outcome')}
              value={condition.on}
              onChange={e =>
                setCondition(index, { on: e.currentTarget.value as TriggerOn })
              }
            >
              <option value="success">{trans.__('succeeds')}</option>
              <option value="failure">{trans.__('fails')}</option>
            </select>
            <button
              type="button"
              className="jp-scheduler-iconButton"
              aria-label={trans.__('Remove this condition')}
              title={trans.__('Remove this condition')}
              onClick={() =>
                update({
                  conditions: form.conditions.filter((_, i) => i !== index)
                })
              }
            >
              <closeIcon.react tag="span" elementSize="normal" />
            </button>
          </li>
        ))}
      </ul>
      <Button
        type="button"
        small
        minimal
        data-action="add-condition"
        onClick={() =>
          update({
            conditions: [
              ...form.conditions,
              {
                job_id:
                  jobs.find(j => !form.conditions.some(c => c.job_id === j.id))
                    ?.id ?? '',
                on: 'success'
              }
            ]
          })
        }
      >
        {trans.__('+ Add a condition')}
      </Button>
    </div>
  );
}

function PreviewBox(props: {
  preview: PreviewState;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { preview, trans } = props;
  if (preview.kind === 'idle' || preview.kind === 'error') {
    return null;
  }
  if (preview.kind === 'loading') {
    return (
      <div
        className="jp-scheduler-preview jp-scheduler-muted"
        aria-live="polite"
      >
        {trans.__('Checking the schedule…')}
      </div>
    );
  }
  const now = new Date();
  const { description, next_run_times } = preview.preview;
  return (
    <div
      className="jp-scheduler-preview"
      aria-live="polite"
      data-testid="schedule-preview"
    >
      <div className="jp-scheduler-previewDescription">{description}</div>
      {next_run_times.length > 0 ? (
        <>
          <div className="jp-scheduler-label">{trans.__('Next runs:')}</div>
          <ol className="jp-scheduler-previewTimes">
            {next_run_times.map(time => (
              <li key={time} data-time={time}>
                {formatAbsolute(time)}
                <span className="jp-scheduler-muted">
                  {' · '}
                  {formatRelative(time, now)}
                </span>
              </li>
            ))}
          </ol>
        </>
      ) : (
        <div className="jp-scheduler-muted">
          {trans.__('No fixed times: it runs when its conditions are met.')}
        </div>
      )}
    </div>
  );
}
