import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, closeIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { SchedulerAPIError } from '../api';
import type { Job, SchedulePreview } from '../api';
import { placeFieldErrors } from '../errors';
import { dstNote, duplicateConditions } from '../form/convert';
import type { TriggerOn } from '../form/spec';
import {
  FormError,
  FormState,
  IntervalUnit,
  ScheduleKind,
  SCHEDULE_KINDS,
  ADVANCED_FIELDS,
  scheduleKey
} from '../form/state';
import type { FormMode, SchedulerModel } from '../model';
import { errorMessage } from '../model';
import { isAmplnPath, isNotebookPath } from '../paths';
import { browserTimeZone, formatAbsolute, formatRelative } from '../time';
import { AdvancedSection } from './AdvancedSection';
import { Field } from './Field';
import type { FieldErrors } from './Field';
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

/** Every IANA zone the browser knows, the browser's own and UTC included. */
function timeZoneNames(...extra: string[]): string[] {
  let names: string[] = [];
  try {
    names = (
      Intl as unknown as { supportedValuesOf(key: string): string[] }
    ).supportedValuesOf('timeZone');
  } catch {
    names = [];
  }
  return Array.from(
    new Set([...names, 'UTC', ...extra.filter(Boolean)])
  ).sort();
}

/** Whether a schedule fires at instants with seconds (6-field cron, intervals in seconds). */
function hasSeconds(form: FormState, times: ReadonlyArray<string>): boolean {
  if (form.kind === 'cron') {
    return form.cronExpression.trim().split(/\s+/).length === 6;
  }
  if (form.kind === 'interval') {
    return form.intervalUnit === 'seconds';
  }
  return (
    /:\d{2}:\d{2}$/.test(form.time.trim()) ||
    times.some(time => new Date(time).getSeconds() !== 0)
  );
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
    case 'file':
      return trans.__('When files arrive');
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

/** The form fields that make the schedule. */
const SCHEDULE_FORM_FIELDS: ReadonlyArray<keyof FormState> = [
  'kind',
  'date',
  'time',
  'weekday',
  'dayOfMonth',
  'intervalDays',
  'intervalValue',
  'intervalUnit',
  'cronExpression',
  'logicalOperator',
  'conditions',
  'watchPath',
  'watchDebounce',
  'timezone'
];

export function JobForm(props: JobFormProps): JSX.Element {
  const { model, trans, mode, jobId } = props;
  // A draft kept by the model (the form was closed half-filled) comes back.
  const [form, setForm] = React.useState<FormState>(
    () => model.formDraft ?? props.initial
  );
  React.useEffect(() => model.setFormDraft(form), [form, model]);
  const [previewErrors, setPreviewErrors] = React.useState<FieldErrors>({});
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
    let touched = Object.keys(patch);
    // A changed schedule is checked again as a whole (by the preview).
    if (
      touched.some(k => SCHEDULE_FORM_FIELDS.includes(k as keyof FormState))
    ) {
      touched = [...touched, ...SCHEDULE_FORM_FIELDS];
    }
    if (touched.some(k => fieldErrors[k as keyof FormState])) {
      setFieldErrors(previous => {
        const next = { ...previous };
        touched.forEach(k => delete next[k as keyof FormState]);
        return next;
      });
    }
  };

  // Live preview: ask the server, debounced, and keep only the latest answer.
  // Its errors sit at the fields they are about, in the form's words.
  const key = scheduleKey(form);
  const isUnchangedEdit = mode === 'edit' && scheduleKey(props.initial) === key;
  const isFiredOnce =
    isUnchangedEdit &&
    form.kind === 'once' &&
    !!model.job(jobId ?? '') &&
    !model.job(jobId ?? '')?.next_run_time;
  const latest = React.useRef(0);
  React.useEffect(() => {
    const request = ++latest.current;
    setPreviewErrors({});
    if (form.kind === 'trigger' && form.conditions.every(c => !c.job_id)) {
      setPreview({ kind: 'idle' });
      return;
    }
    if (isFiredOnce) {
      // Its one run is behind it; saving without a new date keeps it so.
      setPreview({ kind: 'idle' });
      return;
    }
    setPreview({ kind: 'loading' });
    const showError = (error: unknown) => {
      if (request !== latest.current) {
        return;
      }
      if (error instanceof FormError) {
        setPreviewErrors({ [error.field]: trans.__(error.message) });
        setPreview({ kind: 'idle' });
        return;
      }
      if (error instanceof SchedulerAPIError) {
        const placed = placeFieldErrors(error, form, {
          rootDir: model.workspaceRoot
        });
        setPreviewErrors(placed.fields);
        setPreview(
          placed.rest.length
            ? { kind: 'error', message: placed.rest.join(' ') }
            : { kind: 'idle' }
        );
        return;
      }
      setPreview({ kind: 'error', message: errorMessage(error) });
    };
    const timer = window.setTimeout(() => {
      let pending: Promise<SchedulePreview>;
      try {
        pending = model.previewSchedule(form, jobId);
      } catch (error) {
        showError(error);
        return;
      }
      pending
        .then(answer => {
          if (request === latest.current) {
            setPreview({ kind: 'ok', preview: answer });
          }
        })
        .catch(showError);
    }, PREVIEW_DELAY_MS);
    return () => window.clearTimeout(timer);
    // The preview depends on the schedule's fields only (`key`).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, isFiredOnce]);

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
      if (error instanceof FormError) {
        showFieldErrors({ [error.field]: trans.__(error.message) });
      } else if (error instanceof SchedulerAPIError) {
        // The answer's `fields` go under the controls that produced them,
        // said in the form's units ("interval_seconds" -> the Every field).
        const placed = placeFieldErrors(error, form, {
          rootDir: model.workspaceRoot
        });
        if (Object.keys(placed.fields).length) {
          showFieldErrors(placed.fields);
        }
        setSaveError(placed.rest.length ? placed.rest.join(' ') : null);
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

  // Errors at the schedule's fields: from saving, else from the preview.
  const errors: FieldErrors = { ...previewErrors, ...fieldErrors };
  const scheduleInvalid = preview.kind === 'error';
  const describedBy = scheduleInvalid ? SCHEDULE_ERROR_ID : undefined;
  const invalid = (field: keyof FormState) =>
    !!errors[field] || scheduleInvalid;
  const errorIdOf = (id: string, field: keyof FormState) =>
    errors[field] ? `${id}-error` : describedBy;
  const otherJobs = model.jobs.filter(j => j.id !== jobId);
  const browserZone = browserTimeZone();
  const jobZone = mode === 'edit' ? props.initial.timezone : null;
  const zoneWords =
    form.timezone === browserZone
      ? trans.__("Times are in %1 (your browser's zone).", form.timezone)
      : form.timezone === jobZone
        ? trans.__("Times are in %1 (the job's zone).", form.timezone)
        : trans.__('Times are in %1 (chosen for this job).', form.timezone);
  const zones = React.useMemo(
    () => timeZoneNames(browserZone, props.initial.timezone),
    [browserZone, props.initial.timezone]
  );
  const timeNote = React.useMemo(() => {
    const note = dstNote(form);
    return note ? trans.__(note) : null;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const withSeconds = /:\d{2}:\d{2}$/.test(form.time.trim());

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
        <Field
          label={trans.__('Schedule')}
          id="jp-scheduler-kind"
          field="schedule_type"
          error={errors.kind}
        >
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
          <Field
            label={trans.__('Day of the week')}
            id="jp-scheduler-weekday"
            error={errors.weekday}
          >
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
          <Field
            label={trans.__('Day of the month')}
            id="jp-scheduler-dom"
            error={errors.dayOfMonth}
          >
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
          <Field
            label={trans.__('Every how many days')}
            id="jp-scheduler-days"
            field="interval_days"
            error={errors.intervalDays}
          >
            <input
              id="jp-scheduler-days"
              className="jp-mod-styled jp-scheduler-input"
              name="interval_days"
              type="number"
              min={1}
              value={form.intervalDays}
              aria-invalid={invalid('intervalDays')}
              aria-describedby={errorIdOf('jp-scheduler-days', 'intervalDays')}
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
            field="date"
            error={errors.date}
          >
            <input
              id="jp-scheduler-date"
              className="jp-mod-styled jp-scheduler-input"
              name="date"
              type="date"
              value={form.date}
              aria-invalid={invalid('date')}
              aria-describedby={errorIdOf('jp-scheduler-date', 'date')}
              onChange={e => update({ date: e.currentTarget.value })}
            />
          </Field>
        )}

        {['once', 'daily', 'weekly', 'monthly', 'every_x_days'].includes(
          form.kind
        ) && (
          <Field
            label={trans.__('Time')}
            id="jp-scheduler-time"
            field="time"
            error={errors.time}
            note={timeNote}
            hint={
              form.kind === 'every_x_days' && !form.date.trim()
                ? trans.__(
                    'Without a start date, the first run is the next time the clock reads this time.'
                  )
                : undefined
            }
          >
            <input
              id="jp-scheduler-time"
              className="jp-mod-styled jp-scheduler-input"
              name="time"
              type="time"
              step={withSeconds ? 1 : 60}
              value={form.time}
              aria-invalid={invalid('time')}
              aria-describedby={errorIdOf('jp-scheduler-time', 'time')}
              onChange={e => update({ time: e.currentTarget.value })}
            />
          </Field>
        )}

        {form.kind === 'interval' && (
          <Field
            label={trans.__('Every')}
            id="jp-scheduler-interval"
            field="interval_seconds"
            error={errors.intervalValue}
          >
            <div className="jp-scheduler-row">
              <input
                id="jp-scheduler-interval"
                className="jp-mod-styled jp-scheduler-input"
                name="interval_value"
                type="number"
                min={1}
                value={form.intervalValue}
                aria-invalid={invalid('intervalValue')}
                aria-describedby={errorIdOf(
                  'jp-scheduler-interval',
                  'intervalValue'
                )}
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
            field="cron_expression"
            error={errors.cronExpression}
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
              aria-invalid={invalid('cronExpression')}
              aria-describedby={errorIdOf(
                'jp-scheduler-cron',
                'cronExpression'
              )}
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
            error={errors.conditions ?? errors.logicalOperator}
          />
        )}

        {form.kind === 'file' && (
          <>
            <Field
              label={trans.__('Files to watch')}
              id="jp-scheduler-watch-path"
              field="watch_path"
              error={errors.watchPath}
              hint={trans.__(
                'A glob relative to the workspace, e.g. "data/incoming/*.csv" ("**" for any folders below). The job runs once the matching files that appeared or changed have settled.'
              )}
            >
              <input
                id="jp-scheduler-watch-path"
                className="jp-mod-styled jp-scheduler-input jp-scheduler-mono"
                name="watch_path"
                value={form.watchPath}
                placeholder="data/incoming/*.csv"
                spellCheck={false}
                aria-invalid={invalid('watchPath')}
                aria-describedby={errorIdOf(
                  'jp-scheduler-watch-path',
                  'watchPath'
                )}
                onChange={e => update({ watchPath: e.currentTarget.value })}
              />
            </Field>
            <Field
              label={trans.__('Settle time (seconds)')}
              id="jp-scheduler-watch-debounce"
              field="watch_debounce_seconds"
              error={errors.watchDebounce}
              hint={trans.__(
                'How long no further change may come before the files count as arrived (default 3).'
              )}
            >
              <input
                id="jp-scheduler-watch-debounce"
                className="jp-mod-styled jp-scheduler-input"
                name="watch_debounce_seconds"
                type="number"
                min={1}
                max={3600}
                step={1}
                placeholder="3"
                value={form.watchDebounce}
                aria-invalid={invalid('watchDebounce')}
                aria-describedby={errorIdOf(
                  'jp-scheduler-watch-debounce',
                  'watchDebounce'
                )}
                onChange={e => update({ watchDebounce: e.currentTarget.value })}
              />
            </Field>
          </>
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

        {form.kind !== 'trigger' && form.kind !== 'file' && (
          <Field
            label={trans.__('Time zone')}
            id="jp-scheduler-timezone"
            field="timezone"
            error={errors.timezone}
            hint={zoneWords}
          >
            <select
              id="jp-scheduler-timezone"
              className="jp-mod-styled jp-scheduler-input"
              name="timezone"
              value={form.timezone}
              aria-invalid={!!errors.timezone}
              onChange={e => update({ timezone: e.currentTarget.value })}
            >
              {zones.map(zone => (
                <option key={zone} value={zone}>
                  {zone}
                </option>
              ))}
            </select>
          </Field>
        )}

        {isFiredOnce && (
          <div
            className="jp-scheduler-preview jp-scheduler-muted"
            data-testid="fired-once"
          >
            {trans.__(
              'Its one run was due %1. Saving keeps it as it is; choose a new date and time to run it again.',
              formatAbsolute(
                model.job(jobId ?? '')?.run_date ?? null,
                undefined,
                form.timezone
              ) || trans.__('in the past')
            )}
          </div>
        )}

        <PreviewBox
          preview={preview}
          trans={trans}
          timeZone={form.timezone}
          withSeconds={
            preview.kind === 'ok' &&
            hasSeconds(form, preview.preview.next_run_times)
          }
        />
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
  error?: string;
}

function TriggerFields(props: TriggerFieldsProps): JSX.Element {
  const { form, jobs, trans, update } = props;
  const twice = new Set(duplicateConditions(form.conditions));
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
          <li
            key={index}
            className="jp-scheduler-row"
            data-duplicate={twice.has(index) ? 'true' : undefined}
          >
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
      {twice.size > 0 && (
        <div
          className="jp-scheduler-fieldError"
          role="alert"
          data-testid="duplicate-condition"
        >
          {trans.__(
            'Condition %1 repeats an earlier one (same job, same outcome): remove it or change it.',
            Math.min(...Array.from(twice)) + 1
          )}
        </div>
      )}
      {props.error && twice.size === 0 && (
        <div
          className="jp-scheduler-fieldError"
          role="alert"
          data-testid="field-error"
          data-field="trigger_conditions"
        >
          {props.error}
        </div>
      )}
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
  /** The job's zone: next runs are shown in it, as the fields are. */
  timeZone: string;
  withSeconds: boolean;
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
                {formatAbsolute(
                  time,
                  undefined,
                  props.timeZone,
                  props.withSeconds
                )}
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
