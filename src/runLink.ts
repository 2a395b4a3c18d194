/**
 * Links that open a run: alert messages (Slack, e-mail, the JSON webhook)
 * link to `{public_url}lab?pipeline-scheduler-run=<id>`; JupyterLab's router
 * hands that address to this plugin, which opens the run's log tab.
 */
import {
  IRouter,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

/** The query parameter of a run link. */
export const RUN_LINK_PARAMETER = 'pipeline-scheduler-run';

const OPEN_FROM_LINK = 'pipeline-scheduler:open-run-from-link';
const OPEN_RUN_LOG = 'pipeline-scheduler:open-run-log';

/** The run id a page address asks to open (its search part), or null. */
export function runIdFromSearch(search: string): number | null {
  const value = new URLSearchParams(search).get(RUN_LINK_PARAMETER);
  if (value === null || !/^\d{1,15}$/.test(value)) {
    return null;
  }
  const runId = Number(value);
  return runId > 0 ? runId : null;
}

export const runLinkPlugin: JupyterFrontEndPlugin<void> = {
  id: '@amphi/pipeline-scheduler:run-link',
  description: 'Opens the log of the run an alert message links to.',
  autoStart: true,
  requires: [IRouter],
  activate: (app: JupyterFrontEnd, router: IRouter): void => {
    app.commands.addCommand(OPEN_FROM_LINK, {
      execute: args => {
        const runId = runIdFromSearch(String(args.search ?? ''));
        if (runId !== null) {
          return app.commands.execute(OPEN_RUN_LOG, { runId });
        }
      }
    });
    router.register({
      command: OPEN_FROM_LINK,
      pattern: new RegExp(`[?&]${RUN_LINK_PARAMETER}=\\d+`)
    });
  }
};
