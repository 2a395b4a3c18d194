/**
 * The History section of the job detail: every version of the job's
 * definition, newest first, with when (the person's local time), who and
 * which fields changed, and a Restore button for the older ones (the view
 * model asks before restoring).
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { JobVersion } from '../api';
import { formatAbsolute, formatRelative } from '../time';

export interface JobHistoryProps {
  versions: ReadonlyArray<JobVersion>;
  /** The job's current version (it has no Restore button). */
  currentVersion: number;
  trans: TranslationBundle;
  onRestore: (version: number) => void;
}

/** What a version changed, in words: "created", "restored from 2: ...". */
export function changeSummary(
  version: JobVersion,
  trans: TranslationBundle
): string {
  const fields = version.changes.join(', ');
  if (version.restored_from) {
    return fields
      ? trans.__('restored from version %1: %2', version.restored_from, fields)
      : trans.__('restored from version %1', version.restored_from);
  }
  if (!version.changes.length) {
    return version.version === 1
      ? trans.__('created')
      : trans.__('no field changed');
  }
  return fields;
}

export function JobHistory(props: JobHistoryProps): JSX.Element {
  const { versions, currentVersion, trans } = props;
  if (!versions.length) {
    return (
      <p className="jp-PipelineScheduler-muted">
        {trans.__('No versions recorded yet.')}
      </p>
    );
  }
  return (
    <ol className="jp-PipelineScheduler-versions" data-testid="job-versions">
      {versions.map(v => {
        const isCurrent = v.version === currentVersion;
        return (
          <li key={v.version} data-version={v.version}>
            <span className="jp-PipelineScheduler-versionNumber">
              {trans.__('v%1', v.version)}
            </span>
            <time
              dateTime={v.created_at}
              title={formatRelative(v.created_at)}
              className="jp-PipelineScheduler-versionTime"
            >
              {formatAbsolute(v.created_at)}
            </time>
            <span className="jp-PipelineScheduler-versionAuthor">
              {v.author ?? trans.__('unknown')}
            </span>
            <span
              className="jp-PipelineScheduler-versionChanges jp-PipelineScheduler-muted"
              data-testid="version-changes"
            >
              {changeSummary(v, trans)}
            </span>
            {isCurrent ? (
              <span className="jp-PipelineScheduler-muted">
                {trans.__('current')}
              </span>
            ) : (
              <Button
                type="button"
                small
                data-action="restore-version"
                title={trans.__(
                  'Make the job what it was in version %1',
                  v.version
                )}
                onClick={() => props.onRestore(v.version)}
              >
                {trans.__('Restore')}
              </Button>
            )}
          </li>
        );
      })}
    </ol>
  );
}
