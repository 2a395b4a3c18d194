import { fireEvent, render, screen } from '@testing-library/react';
import * as React from 'react';

import type { Run } from '../../api';
import { RunList, RunListProps } from '../../components/RunList';
import { makeJob, makeRun, trans } from '../fixtures';

function props(overrides: Partial<RunListProps> = {}): RunListProps {
  return {
    runs: [],
    jobs: [makeJob(), makeJob({ id: 'job_b', name: 'Doomed' })],
    filter: { jobId: '', status: '' },
    hasMore: false,
    isLoading: false,
    trans,
    isStopping: () => false,
    onFilter: jest.fn(),
    onLoadMore: jest.fn(),
    onRefresh: jest.fn(),
    onOpenLog: jest.fn(),
    onDeleteRun: jest.fn(),
    onCancelRun: jest.fn(),
    onDownloadNotebook: jest.fn(),
    onClearAll: jest.fn(),
    ...overrides
  };
}

function rows(container: HTMLElement): HTMLElement[] {
  return Array.from(container.querySelectorAll('.jp-scheduler-run'));
}

describe('RunList', () => {
  it('shows each run in the order given, with its status and job', () => {
    const runs = [
      makeRun({
        id: 3,
        status: 'failure',
        job_name: 'Doomed',
        job_id: 'job_b'
      }),
      makeRun({ id: 2 }),
      makeRun({ id: 1, status: 'timeout' })
    ];
    const { container } = render(<RunList {...props({ runs })} />);
    expect(rows(container).map(r => r.dataset.runId)).toEqual(['3', '2', '1']);
    expect(rows(container).map(r => r.dataset.status)).toEqual([
      'failure',
      'success',
      'timeout'
    ]);
    expect(rows(container)[0].textContent).toContain('Doomed');
    expect(rows(container)[0].textContent).toContain('#3');
    expect(rows(container)[2].textContent).toContain('timed out');
  });

  it('says where a run ran when it ran on a Ray cluster', () => {
    const runs = [
      makeRun({
        id: 2,
        backend: 'ray',
        ray_submission_id: 'amphi-k-run-2'
      }),
      makeRun({ id: 1, backend: 'local' })
    ];
    const { container } = render(<RunList {...props({ runs })} />);
    const [ray, local] = rows(container);
    const where = ray.querySelector('[data-testid="run-backend"]');
    expect(where?.textContent).toContain('on Ray');
    expect(where?.getAttribute('title')).toBe('amphi-k-run-2');
    expect(local.querySelector('[data-testid="run-backend"]')).toBeNull();
  });

  it('says there are no runs, or that they are loading', () => {
    const { rerender } = render(<RunList {...props()} />);
    expect(screen.getByText('No runs.')).toBeTruthy();
    rerender(<RunList {...props({ isLoading: true })} />);
    expect(screen.getByText('Loading runs…')).toBeTruthy();
    expect(
      (screen.getByText('Clear all history') as HTMLButtonElement).closest(
        'button'
      )?.disabled
    ).toBe(true);
  });

  it('filters by job and by status through its two selects', () => {
    const onFilter = jest.fn();
    const { container } = render(<RunList {...props({ onFilter })} />);
    const byJob = container.querySelector(
      'select[name="filter_job"]'
    ) as HTMLSelectElement;
    const byStatus = container.querySelector(
      'select[name="filter_status"]'
    ) as HTMLSelectElement;
    expect(Array.from(byJob.options).map(o => o.textContent)).toEqual([
      'All jobs',
      'Nightly load',
      'Doomed'
    ]);
    fireEvent.change(byJob, { target: { value: 'job_b' } });
    expect(onFilter).toHaveBeenLastCalledWith({ jobId: 'job_b' });
    fireEvent.change(byStatus, { target: { value: 'failure' } });
    expect(onFilter).toHaveBeenLastCalledWith({ status: 'failure' });
  });

  it("keeps the filter of a job that is gone, and names the job's clear", () => {
    const { container } = render(
      <RunList {...props({ filter: { jobId: 'job_gone', status: '' } })} />
    );
    const byJob = container.querySelector(
      'select[name="filter_job"]'
    ) as HTMLSelectElement;
    expect(byJob.value).toBe('job_gone');
    expect(screen.getByText('Clear this job’s history')).toBeTruthy();
  });

  it('offers "Load more" only while there are more', () => {
    const onLoadMore = jest.fn();
    const runs = [makeRun()];
    const { container, rerender } = render(
      <RunList {...props({ runs, hasMore: true, onLoadMore })} />
    );
    fireEvent.click(
      container.querySelector('[data-action="load-more"]') as HTMLElement
    );
    expect(onLoadMore).toHaveBeenCalledTimes(1);
    rerender(<RunList {...props({ runs, hasMore: false })} />);
    expect(container.querySelector('[data-action="load-more"]')).toBeNull();
  });

  it('stops an active run and deletes a finished one', () => {
    const running = makeRun({ id: 5, status: 'running', finished_at: null });
    const queued = makeRun({ id: 6, status: 'queued', started_at: null });
    const done = makeRun({ id: 4 });
    const handlers = {
      onCancelRun: jest.fn(),
      onDeleteRun: jest.fn(),
      onClearAll: jest.fn()
    };
    const { container } = render(
      <RunList
        {...props({ runs: [queued, running, done], ...handlers })}
        isStopping={(id: number) => id === 6}
      />
    );
    const [q, r, d] = rows(container);
    expect(q.querySelector('[data-action="delete-run"]')).toBeNull();
    const stopQueued = q.querySelector(
      '[data-action="cancel-run"]'
    ) as HTMLButtonElement;
    expect(stopQueued.disabled).toBe(true); // asked already
    expect(stopQueued.getAttribute('aria-label')).toBe('Stopping run 6…');
    const stop = r.querySelector(
      '[data-action="cancel-run"]'
    ) as HTMLButtonElement;
    expect(stop.getAttribute('aria-label')).toBe('Stop run 5');
    fireEvent.click(stop);
    expect(handlers.onCancelRun).toHaveBeenCalledWith(running);
    fireEvent.click(
      d.querySelector('[data-action="delete-run"]') as HTMLElement
    );
    expect(handlers.onDeleteRun).toHaveBeenCalledWith(done);
    fireEvent.click(screen.getByText('Clear all history'));
    expect(handlers.onClearAll).toHaveBeenCalledTimes(1);
  });

  it('opens the log of the run clicked', () => {
    const onOpenLog = jest.fn();
    const { container } = render(
      <RunList {...props({ runs: [makeRun({ id: 9 })], onOpenLog })} />
    );
    fireEvent.click(
      container.querySelector('.jp-scheduler-runOpen') as HTMLElement
    );
    expect(onOpenLog).toHaveBeenCalledWith(9);
  });

  it('marks retries and runs of a changed pipeline', () => {
    const runs: Run[] = [
      makeRun({ id: 2, attempt: 2, pipeline_changed: true }),
      makeRun({ id: 1 })
    ];
    const jobs = [makeJob({ max_retries: 2 })];
    const { container } = render(<RunList {...props({ runs, jobs })} />);
    const [retry, first] = rows(container);
    expect(retry.querySelector('[data-attempt="2"]')?.textContent).toBe(
      'attempt 2 of 3'
    );
    expect(
      retry.querySelector('[data-testid="pipeline-changed"]')
    ).toBeTruthy();
    expect(first.querySelector('.jp-scheduler-runMarkers')).toBeNull();
  });

  it('offers the executed notebook of a notebook run', () => {
    const onDownloadNotebook = jest.fn();
    const run = makeRun({ has_notebook: true, pipeline_path: 'report.ipynb' });
    const { container } = render(
      <RunList {...props({ runs: [run], onDownloadNotebook })} />
    );
    fireEvent.click(
      container.querySelector(
        '[data-action="download-notebook"]'
      ) as HTMLElement
    );
    expect(onDownloadNotebook).toHaveBeenCalledWith(run);
  });
});
