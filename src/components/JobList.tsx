import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import type { Job } from '../api';
import { JobCard, JobCardActions } from './JobCard';

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
  return (
    <ul
      className="jp-scheduler-jobList"
      aria-label={trans.__('Scheduled jobs')}
    >
      {jobs.map(job => (
        <JobCard key={job.id} job={job} now={now} {...props} />
      ))}
    </ul>
  );
}
