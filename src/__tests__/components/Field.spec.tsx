import { render, screen } from '@testing-library/react';
import * as React from 'react';

import { Field } from '../../components/Field';

describe('Field', () => {
  it('labels its input and shows its hint', () => {
    render(
      <Field
        label="Name"
        id="job-name"
        hint="As the job list shows it"
        field="name"
      >
        <input id="job-name" />
      </Field>
    );
    const input = screen.getByLabelText('Name');
    expect(input.id).toBe('job-name');
    expect(screen.getByText('As the job list shows it')).toBeTruthy();
    const field = input.closest('.jp-scheduler-field') as HTMLElement;
    expect(field.dataset.field).toBe('name');
    expect(field.dataset.invalid).toBeUndefined();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('shows an error at the field, announced, and marks the field invalid', () => {
    render(
      <Field label="Cron" id="cron" error="61 is not a minute (0-59)">
        <input id="cron" />
      </Field>
    );
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toBe('61 is not a minute (0-59)');
    expect(alert.id).toBe('cron-error');
    const field = screen
      .getByLabelText('Cron')
      .closest('.jp-scheduler-field') as HTMLElement;
    expect(field.dataset.invalid).toBe('true');
    expect(field.contains(alert)).toBe(true);
  });
});
