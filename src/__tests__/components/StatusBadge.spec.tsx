import { render, screen } from '@testing-library/react';
import * as React from 'react';

import {
  attemptLabel,
  StatusBadge,
  statusLabel,
  triggerLabel
} from '../../components/StatusBadge';
import { trans } from '../fixtures';

describe('StatusBadge', () => {
  it.each([
    ['success', 'success'],
    ['failure', 'failure'],
    ['timeout', 'timed out'],
    ['interrupted', 'interrupted'],
    ['queued', 'queued']
  ])(
    'shows %s as the words "%s", with its status for styling',
    (status, words) => {
      render(<StatusBadge status={status} trans={trans} />);
      const badge = screen.getByText(words);
      expect(badge).toHaveProperty('dataset.status', status);
      expect(badge.className).toContain(`jp-scheduler-status-${status}`);
    }
  );

  it('shows a status it does not know as it came', () => {
    expect(statusLabel(trans, 'brand-new')).toBe('brand-new');
  });

  it('names each trigger in words', () => {
    expect(triggerLabel(trans, 'trigger')).toBe('after another job');
    expect(triggerLabel(trans, 'catchup')).toBe('catch-up');
    expect(triggerLabel(trans, 'schedule')).toBe('scheduled');
  });

  it('counts attempts only for retries', () => {
    expect(attemptLabel(trans, 1, 3)).toBeNull();
    expect(attemptLabel(trans, undefined, 3)).toBeNull();
    expect(attemptLabel(trans, 2, 2)).toBe('attempt 2 of 3');
    // The job has fewer retries now than when the run started: no wrong total.
    expect(attemptLabel(trans, 3, 0)).toBe('attempt 3');
  });
});
