/**
 * Registration only: the plugin, its commands, menus and settings. The
 * behaviour lives in model.ts (state) and components/ (views).
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, ICommandPalette, showDialog } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { MainAreaWidget } from '@jupyterlab/apputils';

import { schedulerIcon } from './icon';
import { SchedulerModel } from './model';
import { notifyRunOutcomes } from './notifications';
import {
  OPEN_VIEW_COMMAND,
  registerSchedulerView,
  schedulerViewEntries
} from './view/register';
import { createRunLogWidget, SchedulerPanel } from './widgets';

const PLUGIN_ID = '@amphi/pipeline-scheduler:plugin';

export namespace CommandIDs {
  export const open = 'pipeline-scheduler:open';
  export const newJob = 'pipeline-scheduler:new-job';
  export const scheduleFile = 'pipeline-scheduler:schedule-file';
  export const openRunLog = 'pipeline-scheduler:open-run-log';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Schedule Amphi pipelines and Python scripts, and watch their runs.',
  autoStart: true,
  requires: [ITranslator],
  optional: [
    ICommandPalette,
    ISettingRegistry,
    IFileBrowserFactory,
    ILayoutRestorer
  ],
  activate: (
    app: JupyterFrontEnd,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    browserFactory: IFileBrowserFactory | null,
    restorer: ILayoutRestorer | null
  ) => {
    const trans = (translator ?? nullTranslator).load('pipeline_scheduler');
    const { commands, shell } = app;

    const model = new SchedulerModel({
      contents: app.serviceManager.contents,
      kernelspecs: app.serviceManager.kernelspecs,
      commands,
      trans
    });

    const logWidgets = new Map<number, MainAreaWidget>();
    const openLog = (runId: number) =>
      void commands.execute(CommandIDs.openRunLog, { runId });

    const panel = new SchedulerPanel(model, trans, openLog, () =>
      void commands.execute(OPEN_VIEW_COMMAND)
    );
    registerSchedulerView(app, { model, trans, openLog, restorer });
    shell.add(panel, 'left', { rank: 600, type: 'Scheduler' });
    restorer?.add(panel, 'pipeline-scheduler');
    notifyRunOutcomes(model, trans, openLog);

    const showPanel = () => shell.activateById(panel.id);

    commands.addCommand(CommandIDs.open, {
      label: trans.__('Open Scheduler'),
      caption: trans.__('Show the pipeline scheduler in the left sidebar'),
      icon: args => (args.isPalette ? undefined : schedulerIcon),
      execute: () => showPanel()
    });

    commands.addCommand(CommandIDs.newJob, {
      label: trans.__('New Scheduled Job'),
      caption: trans.__('Schedule a pipeline'),
      execute: args => {
        showPanel();
        model.showNewJobForm((args.path as string) || '');
      }
    });

    /** The file right-clicked in a file browser, else the one selected there. */
    const targetFile = (): string | null => {
      const browser = browserFactory?.tracker.currentWidget;
      const node = app.contextMenuHitTest(n =>
        n.classList.contains('jp-DirListing-item')
      );
      if (browser && node) {
        if (node.dataset.isdir === 'true') {
          return null;
        }
        const name = node
          .querySelector('.jp-DirListing-itemText')
          ?.textContent?.trim();
        if (name) {
          return PathExt.join(browser.model.path, name);
        }
      }
      return selectedFile();
    };

    const selectedFile = (): string | null => {
      const browser = browserFactory?.tracker.currentWidget;
      if (!browser) {
        return null;
      }
      const item = browser.selectedItems().next();
      if (!item || item.done || !item.value) {
        return null;
      }
      return item.value.type === 'directory' ? null : item.value.path;
    };

    commands.addCommand(CommandIDs.scheduleFile, {
      label: trans.__('Schedule…'),
      caption: trans.__('Run this pipeline on a schedule'),
      icon: schedulerIcon,
      isVisible: args => {
        const path = (args.path as string) || targetFile();
        return !!path && model.isSchedulable(path);
      },
      execute: args => {
        const path = (args.path as string) || targetFile();
        if (!path) {
          return;
        }
        showPanel();
        model.showNewJobForm(path);
      }
    });

    commands.addCommand(CommandIDs.openRunLog, {
      label: args =>
        args.runId !== undefined
          ? trans.__('Open the Log of Run %1', args.runId as number)
          : trans.__('Open a Run Log'),
      execute: args => {
        const runId = Number(args.runId);
        if (!Number.isInteger(runId)) {
          return;
        }
        let widget = logWidgets.get(runId);
        if (!widget || widget.isDisposed) {
          widget = createRunLogWidget(model, trans, runId, async () => {
            const result = await showDialog({
              title: trans.__('Delete run'),
              body: trans.__('Delete run %1 and its log?', runId),
              buttons: [
                Dialog.cancelButton({ label: trans.__('Cancel') }),
                Dialog.warnButton({ label: trans.__('Delete') })
              ]
            });
            return result.button.accept;
          });
          logWidgets.set(runId, widget);
          widget.disposed.connect(() => logWidgets.delete(runId));
          shell.add(widget, 'main');
        }
        shell.activateById(widget.id);
      }
    });

    if (palette) {
      const category = 'Amphi';
      palette.addItem({ command: CommandIDs.open, category });
      palette.addItem({ command: CommandIDs.newJob, category });
    }

    app.contextMenu.addItem({
      command: CommandIDs.scheduleFile,
      selector: '.jp-DirListing-item[data-isdir="false"]',
      rank: 20
    });

    const applySettings = (settings: ISettingRegistry.ISettings) => {
      model.setPollInterval(
        settings.get('pollIntervalSeconds').composite as number
      );
    };

    void Promise.all([
      app.restored,
      settingRegistry
        ? settingRegistry.load(PLUGIN_ID).catch(reason => {
            console.error(
              'pipeline-scheduler: settings could not be loaded',
              reason
            );
            return null;
          })
        : Promise.resolve(null)
    ]).then(([, settings]) => {
      // Allowed extensions (context menu) and standby state, before any poll.
      void model.refreshConfig();
      let openOnStartup = true;
      if (settings) {
        applySettings(settings);
        settings.changed.connect(applySettings);
        openOnStartup = settings.get('openOnStartup').composite !== false;
      }
      if (openOnStartup) {
        showPanel();
      }
    });
  }
};

export default [plugin, schedulerViewEntries];
