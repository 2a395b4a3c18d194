import { Notification } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';

import type { Run } from './api';
import type { SchedulerModel } from './model';

/**
 * Tell the person when a run they started from this page ends, with an
 * action that opens its log.
 */
export function notifyRunOutcomes(
  model: SchedulerModel,
  trans: TranslationBundle,
  openLog: (runId: number) => void
): void {
  model.runFinished.connect((_, run: Run) => {
    const actions: Notification.IAction[] = [
      {
        label: trans.__('Open log'),
        caption: trans.__('Open the log of run %1', run.id),
        callback: () => openLog(run.id)
      }
    ];
    if (run.status === 'success') {
      Notification.success(
        trans.__('"%1" finished successfully (run %2).', run.job_name, run.id),
        { autoClose: 6000, actions }
      );
    } else if (run.status === 'cancelled' || run.status === 'skipped') {
      Notification.info(
        trans.__(
          '"%1" ended with status %2 (run %3).',
          run.job_name,
          run.status,
          run.id
        ),
        { autoClose: 6000, actions }
      );
    } else {
      Notification.error(
        trans.__(
          '"%1" ended with status %2 (run %3).',
          run.job_name,
          run.status,
          run.id
        ),
        { autoClose: false, actions }
      );
    }
  });
}
