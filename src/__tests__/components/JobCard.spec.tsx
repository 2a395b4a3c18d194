import { fireEvent, render, screen, within } from '@testing-library/react';
import * as React from 'react';

import type { Job } from '../../api';
import { JobCard, JobCardActions } from '../../components/JobCard';
import { JobList, MAX_SIDEBAR_CARDS } from '../../components/JobList';
import { makeJob, trans } from '../fixtures';

const NOW = new Date('2025-01-15T09:00:00Z');

function actions(): JobCardActions & Record<string, jest.Mock> {
  return {
    onRunNow: jest.fn(),
    onTogglePause: jest.fn(),
    onEdit: jest.fn(),
    onDuplicate: jest.fn(),
    onDelete: jest.fn(),
    onShowRuns: jest.fn(),
    onOpenLog: jest.fn(),
    onRegenerate: jest.fn()
  };
}

function renderCard(job: Job, handlers = actions()) {
  const view = render(
    <ul>
      <JobCard job={job} trans={trans} now={NOW} {...handlers} />
    </ul>
  );
  return {
    ...view,
    card: view.container.querySelector('li') as HTMLElement,
    handlers
  };
}

describe('JobCard', () => {
  it('shows the name, file, schedule in words and the next run', () => {
    const { card } = renderCard(
      makeJob({ next_run_time: '2025-01-15T09:05:00Z' })
    );
    expect(card.dataset.jobName).toBe('Nightly load');
    expect(card.dataset.jobId).toBe('job_a');
    expect(within(card).getByText('etl/load.py')).toBeTruthy();
    expect(
      within(card).getByText('At 03:00 every day (Europe/Paris)')
    ).toBeTruthy();
    const next = card.querySelector('.jp-scheduler-nextRun') as HTMLElement;
    expect(next.dataset.nextRun).toBe('2025-01-15T09:05:00Z');
    expect(next.textContent).toContain('in 5 minutes');
    expect(within(card).getByText('never')).toBeTruthy();
    expect(card.querySelector('.jp-scheduler-pausedPill')).toBeNull();
  });

  it('says it is paused, with no next run, and offers Resume', () => {
    const { card, handlers } = renderCard(
      makeJob({ paused: true, next_run_time: null })
    );
    expect(card.querySelector('.jp-scheduler-pausedPill')?.textContent).toBe(
      'Paused'
    );
    expect(card.classList.contains('jp-scheduler-job-paused')).toBe(true);
    expect(card.querySelector('.jp-scheduler-nextRun')?.textContent).toBe(
      'none while paused'
    );
    expect(card.querySelector('[data-action="pause"]')).toBeNull();
    fireEvent.click(within(card).getByRole('button', { name: 'Resume' }));
    expect(handlers.onTogglePause).toHaveBeenCalledWith(
      expect.objectContaining({ id: 'job_a', paused: true })
    );
  });

  it('says when a trigger job runs instead of a time', () => {
    const { card } = renderCard(
      makeJob({ schedule_type: 'trigger', next_run_time: null })
    );
    expect(card.querySelector('.jp-scheduler-nextRun')?.textContent).toBe(
      'when its trigger jobs end'
    );
  });

  it('links the last run to its log', () => {
    const { card, handlers } = renderCard(
      makeJob({
        last_run: {
          id: 42,
          status: 'failure',
          finished_at: '2025-01-15T08:00:00Z'
        }
      })
    );
    const last = card.querySelector('[data-last-run-id="42"]') as HTMLElement;
    expect(last.querySelector('[data-status="failure"]')?.textContent).toBe(
      'failure'
    );
    expect(last.textContent).toContain('1 hour ago');
    fireEvent.click(last);
    expect(handlers.onOpenLog).toHaveBeenCalledWith(42);
  });

  it('each action button calls its handler with the job', () => {
    const job = makeJob();
    const { card, handlers } = renderCard(job);
    const cases: [string, string][] = [
      ['run', 'onRunNow'],
      ['pause', 'onTogglePause'],
      ['edit', 'onEdit'],
      ['duplicate', 'onDuplicate'],
      ['runs', 'onShowRuns'],
      ['delete', 'onDelete']
    ];
    for (const [action, handler] of cases) {
      const button = card.querySelector(
        `[data-action="${action}"]`
      ) as HTMLElement;
      expect(button.getAttribute('aria-label')).toBeTruthy();
      fireEvent.click(button);
      expect(handlers[handler]).toHaveBeenCalledWith(job);
    }
  });

  it('flags an .ampln job whose pipeline changed and regenerates on request', () => {
    const { card, handlers } = renderCard(
      makeJob({ pipeline_path: 'customers.ampln', pipeline_changed: true })
    );
    expect(within(card).getByRole('status').textContent).toContain(
      'The pipeline changed since its code was generated.'
    );
    fireEvent.click(
      card.querySelector('[data-action="regenerate"]') as HTMLElement
    );
    expect(handlers.onRegenerate).toHaveBeenCalledTimes(1);
  });
});

describe('JobList', () => {
  const base = {
    trans,
    onNewJob: jest.fn(),
    ...actions()
  };

  it('says it is loading before the first answer', () => {
    render(<JobList {...base} jobs={[]} isLoaded={false} />);
    expect(screen.getByText('Loading jobs…')).toBeTruthy();
  });

  it('explains how to create a job when there is none', () => {
    render(<JobList {...base} jobs={[]} isLoaded={true} />);
    expect(screen.getByText('No scheduled jobs yet.')).toBeTruthy();
    expect(
      screen.getByText(/right-click a \.py, \.ampln or \.ipynb file/)
    ).toBeTruthy();
  });

  it('lists one card per job, in the order given', () => {
    const jobs = [
      makeJob({ id: 'b', name: 'Second' }),
      makeJob({ id: 'a', name: 'First' })
    ];
    render(<JobList {...base} jobs={jobs} isLoaded={true} />);
    const list = screen.getByRole('list', { name: 'Scheduled jobs' });
    const names = Array.from(list.querySelectorAll('li.jp-scheduler-job')).map(
      li => (li as HTMLElement).dataset.jobName
    );
    expect(names).toEqual(['Second', 'First']);
    expect(screen.queryByTestId('more-jobs')).toBeNull();
  });

  it('shows the first cards of a long list and says how many there are', () => {
    const jobs = Array.from({ length: MAX_SIDEBAR_CARDS + 7 }, (_, i) =>
      makeJob({ id: `job_${i}`, name: `Job ${i}` })
    );
    const { container } = render(
      <JobList {...base} jobs={jobs} isLoaded={true} />
    );
    const cards = container.querySelectorAll('li.jp-scheduler-job');
    expect(cards).toHaveLength(MAX_SIDEBAR_CARDS);
    expect((cards[0] as HTMLElement).dataset.jobName).toBe('Job 0');
    expect(screen.getByTestId('more-jobs').textContent).toBe(
      `Showing ${MAX_SIDEBAR_CARDS} of ${MAX_SIDEBAR_CARDS + 7} jobs. The Scheduler view lists, searches and filters them all.`
    );
  });
});
