/**
 * Live state without a server: the finished-runs feed's cursor, the failure
 * badge on a sidebar title, the active run on a job card, and the log view's
 * search.
 */
import { fireEvent, render, screen } from '@testing-library/react';
import { Title, Widget } from '@lumino/widgets';
import * as React from 'react';

import type { Run, SchedulerAPI } from '../api';
import { JobCard, JobCardActions } from '../components/JobCard';
import { findMatches } from '../components/RunLogView';
import { FailureBadge, FinishedRunsFeed } from '../notifications';
import { makeJob, makeRun, trans } from './fixtures';

function fakeFeedApi(pages: Array<{ runs: Run[]; cursor: number }>) {
  const calls: Array<number | undefined> = [];
  const api = {
    listFinishedRuns: async (after?: number) => {
      calls.push(after);
      return pages.shift() ?? { runs: [], cursor: after ?? 0 };
    }
  } as unknown as SchedulerAPI;
  return { api, calls };
}

describe('FinishedRunsFeed', () => {
  it('starts at the cursor, then passes each answer on once', async () => {
    const first = makeRun({ id: 7, status: 'failure' });
    const { api, calls } = fakeFeedApi([
      { runs: [], cursor: 40 },
      { runs: [first], cursor: 41 },
      { runs: [], cursor: 41 }
    ]);
    const feed = new FinishedRunsFeed(api, 3600);
    const seen: number[] = [];
    feed.runsFinished.connect((_, runs) => seen.push(...runs.map(r => r.id)));
    await feed.check();
    expect(seen).toEqual([]); // the first call only takes the cursor
    await feed.check();
    await feed.check();
    expect(calls).toEqual([undefined, 40, 41]);
    expect(seen).toEqual([7]);
    feed.dispose();
  });

  it('reads every page of a long answer in one check', async () => {
    const page = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => makeRun({ id: from + i }));
    const { api, calls } = fakeFeedApi([
      { runs: [], cursor: 0 },
      { runs: page(1, 200), cursor: 200 },
      { runs: page(201, 5), cursor: 205 }
    ]);
    const feed = new FinishedRunsFeed(api, 3600);
    let count = 0;
    feed.runsFinished.connect((_, runs) => (count += runs.length));
    await feed.check();
    await feed.check();
    expect(count).toBe(205);
    expect(calls).toEqual([undefined, 0, 200]);
    feed.dispose();
  });
});

describe('FailureBadge', () => {
  it('counts on the title and clears', () => {
    const title = new Title<Widget>({
      owner: new Widget(),
      caption: 'Scheduler'
    });
    const badge = new FailureBadge(title, trans);
    badge.add(2);
    badge.add(1);
    expect(title.dataset.failures).toBe('3');
    expect(title.className).toContain('jp-scheduler-hasFailures');
    expect(title.caption).toContain('3');
    badge.clear();
    expect(title.dataset.failures).toBeUndefined();
    expect(title.caption).toBe('Scheduler');
  });
});

describe('JobCard active run', () => {
  const handlers = (): JobCardActions => ({
    onRunNow: jest.fn(),
    onTogglePause: jest.fn(),
    onEdit: jest.fn(),
    onDuplicate: jest.fn(),
    onDelete: jest.fn(),
    onShowRuns: jest.fn(),
    onOpenLog: jest.fn(),
    onRegenerate: jest.fn()
  });

  it('shows the running run, its live log, and disables Run now', () => {
    const actions = handlers();
    const started = new Date(Date.now() - 42000).toISOString();
    const job = makeJob({
      active_run: { id: 9, status: 'running', started_at: started }
    });
    render(
      <ul>
        <JobCard job={job} trans={trans} now={new Date()} {...actions} />
      </ul>
    );
    const line = screen.getByTestId('active-run');
    expect(line.dataset.status).toBe('running');
    expect(line.textContent).toMatch(/for 4\d s/);
    fireEvent.click(screen.getByText('Live log'));
    expect(actions.onOpenLog).toHaveBeenCalledWith(9);
    const run = document.querySelector(
      '[data-action="run"]'
    ) as HTMLButtonElement;
    expect(run.disabled).toBe(true);
  });

  it('disables Run now while a start is on its way', () => {
    const job = makeJob();
    render(
      <ul>
        <JobCard
          job={job}
          trans={trans}
          now={new Date()}
          {...handlers()}
          isStarting={() => true}
        />
      </ul>
    );
    const run = document.querySelector(
      '[data-action="run"]'
    ) as HTMLButtonElement;
    expect(run.disabled).toBe(true);
    expect(screen.queryByTestId('active-run')).toBeNull();
  });
});

describe('findMatches', () => {
  it('finds every occurrence, ignoring case, up to a limit', () => {
    expect(findMatches('Needle a needle b NEEDLE', 'needle')).toEqual([
      [0, 6],
      [9, 15],
      [18, 24]
    ]);
    expect(findMatches('aaaa', 'aa')).toEqual([
      [0, 2],
      [2, 4]
    ]);
    expect(findMatches('abc', '')).toEqual([]);
    expect(findMatches('x x x x', 'x', 2)).toHaveLength(2);
  });
});
