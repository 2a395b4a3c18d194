/**
 * Registration of the main-area Scheduler view: its command (palette,
 * launcher and the sidebar's header button run it), and layout restore.
 */
import type {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  type MainAreaWidget,
  type ReactWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import type { TranslationBundle } from '@jupyterlab/translation';

import { schedulerIcon } from '../icon';
import type { SchedulerModel } from '../model';
import { createSchedulerViewWidget } from './widget';

export const OPEN_VIEW_COMMAND = 'pipeline-scheduler:open-view';

export interface SchedulerViewOptions {
  model: SchedulerModel;
  trans: TranslationBundle;
  openLog: (runId: number) => void;
  restorer?: ILayoutRestorer | null;
}

/** Add the command that opens (or shows) the Scheduler view. */
export function registerSchedulerView(
  app: JupyterFrontEnd,
  options: SchedulerViewOptions
): void {
  const { model, trans, openLog } = options;
  const tracker = new WidgetTracker<MainAreaWidget<ReactWidget>>({
    namespace: 'pipeline-scheduler-view'
  });
  let widget: MainAreaWidget<ReactWidget> | null = null;

  app.commands.addCommand(OPEN_VIEW_COMMAND, {
    label: args =>
      args.isLauncher
        ? trans.__('Scheduler')
        : trans.__('Scheduler View: Jobs and Runs Timeline'),
    caption: trans.__(
      'Jobs, their recent runs, and a timeline of runs, in the main area'
    ),
    icon: args => (args.isPalette ? undefined : schedulerIcon),
    execute: () => {
      if (!widget || widget.isDisposed) {
        widget = createSchedulerViewWidget(model, trans, openLog);
        void tracker.add(widget);
        app.shell.add(widget, 'main');
      }
      app.shell.activateById(widget.id);
      return widget;
    }
  });

  if (options.restorer) {
    void options.restorer.restore(tracker, {
      command: OPEN_VIEW_COMMAND,
      name: () => 'scheduler-view'
    });
  }
}

/** The view's entries: the command palette (Amphi) and the launcher. */
export const schedulerViewEntries: JupyterFrontEndPlugin<void> = {
  id: '@amphi/pipeline-scheduler:view-entries',
  description:
    'Opens the Scheduler view from the command palette and the launcher.',
  autoStart: true,
  optional: [ICommandPalette, ILauncher],
  activate: (
    _app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    launcher: ILauncher | null
  ) => {
    palette?.addItem({ command: OPEN_VIEW_COMMAND, category: 'Amphi' });
    launcher?.add({
      command: OPEN_VIEW_COMMAND,
      args: { isLauncher: true },
      category: 'Other',
      rank: 50
    });
  }
};
