import * as React from 'react';

import type { FormState } from '../form/state';

/** Messages shown at the form's fields. */
export type FieldErrors = Partial<Record<keyof FormState, string>>;

export interface FieldProps {
  label: string;
  id: string;
  error?: string;
  hint?: string;
  /** Something to know about the value, not an error (e.g. a DST day). */
  note?: string | null;
  /** The JobSpec field it edits, for tests and for finding it again. */
  field?: string;
  children: React.ReactNode;
}

export function Field(props: FieldProps): JSX.Element {
  const errorId = `${props.id}-error`;
  return (
    <div
      className="jp-scheduler-field"
      data-field={props.field}
      data-invalid={props.error ? 'true' : undefined}
    >
      <label htmlFor={props.id}>{props.label}</label>
      {props.children}
      {props.hint && <div className="jp-scheduler-hint">{props.hint}</div>}
      {props.note && !props.error && (
        <div
          className="jp-scheduler-hint jp-scheduler-fieldNote"
          role="status"
          data-testid="field-note"
        >
          {props.note}
        </div>
      )}
      {props.error && (
        <div
          id={errorId}
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
