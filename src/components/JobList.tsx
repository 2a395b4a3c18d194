import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import type { Job } from '../api';
import { JobCard, JobCardActions } from './JobCard';

/**
 * The sidebar shows at most this many cards: a card is heavy (six icon
 * buttons, each connected to its icon's signal), and thousands of them made
 * every refresh of a 2,000-job workspace take seconds even with the sidebar
 * closed. The main-area Scheduler view lists every job, windowed.
 */
export const MAX_SIDEBAR_CARDS = 50;

export interface JobListProps extends JobCardActions {
  jobs: ReadonlyArray<Job>;
  isLoaded: boolean;
  trans: TranslationBundle;
  onNewJob: () => void;
}

export function JobList(props: JobListProps): JSX.Element {
  const { jobs, trans } = props;
  // Relative times ("in 5 minutes") move on even between polls.
  const [now, setNow] = React.useState(() => new Date());
  React.useEffect(() => {
    const timer = window.setInterval(() => setNow(new Date()), 15000);
    return () => window.clearInterval(timer);
  }, []);
  React.useEffect(() => setNow(new Date()), [jobs]);

  if (!props.isLoaded) {
    return <p className="jp-scheduler-empty">{trans.__('Loading jobs…')}</p>;
  }
  if (jobs.length === 0) {
    return (
      <div className="jp-scheduler-empty">
        <p>{trans.__('No scheduled jobs yet.')}</p>
        <p>
          {trans.__(
            'Create one with "New job", or right-click a .py, .ampln or .ipynb file in the file browser and choose "Schedule…".'
          )}
        </p>
      </div>
    );
  }
  const shown =
    jobs.length > MAX_SIDEBAR_CARDS ? jobs.slice(0, MAX_SIDEBAR_CARDS) : jobs;
  return (
    <>
      <ul
        className="jp-scheduler-jobList"
        aria-label={trans.__('Scheduled jobs')}
      >
        {shown.map(job => (
          <JobCard key={job.id} job={job} now={now} {...props} />
        ))}
      </ul>
      {shown.length < jobs.length && (
        <p className="jp-scheduler-muted" data-testid="more-jobs">
          {trans.__(
            'Showing %1 of %2 jobs. The Scheduler view lists, searches and filters them all.',
            shown.length,
            jobs.length
          )}
        </p>
      )}
    </>
  );
}
