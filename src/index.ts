/**
 * Registration only: the plugin, its commands, menus, toolbar buttons,
 * settings and the public token. The behaviour lives in model.ts (state),
 * notifications.ts (outcomes) and components/ (views).
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  ToolbarButton,
  WidgetTracker
} from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import type {
  DocumentRegistry,
  IDocumentWidget
} from '@jupyterlab/docregistry';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { TranslationBundle } from '@jupyterlab/translation';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { api } from './api';
import type { Job } from './api';
import { schedulerIcon } from './icon';
import { SchedulerModel } from './model';
import {
  FailureBadge,
  FinishedRunsFeed,
  notifyRunOutcomes
} from './notifications';
import { runLinkPlugin } from './runLink';
import { IPipelineScheduler } from './tokens';
import {
  OPEN_VIEW_COMMAND,
  registerSchedulerView,
  schedulerViewEntries
} from './view/register';
import { createRunLogWidget, RunLogWidget, SchedulerPanel } from './widgets';

export * from './tokens';

const PLUGIN_ID = '@amphi/pipeline-scheduler:plugin';

export namespace CommandIDs {
  export const open = 'pipeline-scheduler:open';
  export const newJob = 'pipeline-scheduler:new-job';
  export const scheduleFile = 'pipeline-scheduler:schedule-file';
  export const openRunLog = 'pipeline-scheduler:open-run-log';
}

/**
 * Document widget factories that get a Schedule toolbar button: notebooks,
 * the text editor (for .py files) and Amphi ETL's pipeline editor (only
 * present when Amphi ETL is installed).
 */
const TOOLBAR_FACTORIES = ['Notebook', 'Editor', 'Pipeline Editor'];

/** Adds the Schedule button to a document's toolbar, shown for runnable files. */
class ScheduleButtonExtension implements DocumentRegistry.IWidgetExtension<
  IDocumentWidget,
  any
> {
  constructor(
    private _model: SchedulerModel,
    private _trans: TranslationBundle,
    private _schedule: (path: string) => void
  ) {}

  createNew(
    widget: IDocumentWidget,
    context: DocumentRegistry.IContext<any>
  ): IDisposable {
    const button = new ToolbarButton({
      icon: schedulerIcon,
      label: this._trans.__('Schedule'),
      tooltip: this._trans.__('Run this file on a schedule'),
      className: 'jp-scheduler-toolbarButton',
      onClick: () => this._schedule(context.path)
    });
    const update = () =>
      button.setHidden(!this._model.isSchedulable(context.path));
    update();
    context.pathChanged.connect(update);
    this._model.configStore.configChanged.connect(update);
    widget.toolbar.addItem('pipeline-scheduler', button);
    return new DisposableDelegate(() => {
      context.pathChanged.disconnect(update);
      this._model.configStore.configChanged.disconnect(update);
      button.dispose();
    });
  }
}

/** What `IPipelineScheduler` gives other extensions. */
class PublicScheduler implements IPipelineScheduler {
  constructor(
    private _model: SchedulerModel,
    private _openJobForm: (path: string) => void
  ) {
    // The jobs store also signals a Run now on its way; only a new list is told.
    let known = _model.jobs;
    _model.jobsStore.jobsChanged.connect(() => {
      if (_model.jobs !== known) {
        known = _model.jobs;
        this._jobsChanged.emit(known);
      }
    });
  }

  get jobsChanged(): ISignal<IPipelineScheduler, ReadonlyArray<Job>> {
    return this._jobsChanged;
  }

  openJobForm(path?: string): void {
    this._openJobForm(path ?? '');
  }

  async listJobs(): Promise<ReadonlyArray<Job>> {
    await this._model.refreshJobs();
    return this._model.jobs;
  }

  private _jobsChanged = new Signal<IPipelineScheduler, ReadonlyArray<Job>>(
    this
  );
}

const plugin: JupyterFrontEndPlugin<IPipelineScheduler> = {
  id: PLUGIN_ID,
  description:
    'Schedule Amphi pipelines and Python scripts, and watch their runs.',
  autoStart: true,
  requires: [ITranslator],
  optional: [
    ICommandPalette,
    ISettingRegistry,
    IFileBrowserFactory,
    ILayoutRestorer,
    ILabShell
  ],
  provides: IPipelineScheduler,
  activate: (
    app: JupyterFrontEnd,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    browserFactory: IFileBrowserFactory | null,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null
  ): IPipelineScheduler => {
    const trans = (translator ?? nullTranslator).load('pipeline_scheduler');
    const { commands, shell } = app;

    const model = new SchedulerModel({
      contents: app.serviceManager.contents,
      kernelspecs: app.serviceManager.kernelspecs,
      commands,
      trans
    });

    const logTracker = new WidgetTracker<RunLogWidget>({
      namespace: 'pipeline-scheduler-run-log'
    });
    const findLog = (runId: number) =>
      logTracker.find(w => w.content.runId === runId && !w.isDisposed);
    const openLog = (runId: number) =>
      void commands.execute(CommandIDs.openRunLog, { runId });

    const panel = new SchedulerPanel(
      model,
      trans,
      openLog,
      () => void commands.execute(OPEN_VIEW_COMMAND)
    );
    registerSchedulerView(app, { model, trans, openLog, restorer });
    shell.add(panel, 'left', { rank: 600, type: 'Scheduler' });
    restorer?.add(panel, 'pipeline-scheduler');
    if (restorer) {
      void restorer.restore(logTracker, {
        command: CommandIDs.openRunLog,
        args: widget => ({ runId: widget.content.runId }),
        name: widget => String(widget.content.runId)
      });
    }

    const showPanel = () => shell.activateById(panel.id);

    // Outcomes of every run while JupyterLab is open, from a cursor feed.
    const feed = new FinishedRunsFeed(api);
    const badge = new FailureBadge(panel.title, trans);
    notifyRunOutcomes({
      model,
      feed,
      badge,
      trans,
      openLog,
      isSchedulerVisible: () => panel.isVisible,
      showRuns: () => {
        showPanel();
        model.showRuns();
      }
    });
    panel.shown.connect(() => badge.clear());
    // The Scheduler's main-area views count as opening it too (not run logs).
    labShell?.currentChanged.connect((_, change) => {
      const widget = change.newValue;
      if (
        widget?.id.startsWith('pipeline-scheduler') &&
        !logTracker.has(widget)
      ) {
        badge.clear();
      }
    });
    feed.runsFinished.connect(() => {
      if (panel.isVisible) {
        void model.refresh();
      }
    });
    void app.restored.then(() => feed.check());

    // Tabs of deleted runs: closed when deleted here, marked when cleared.
    model.runsStore.runsDeleted.connect((_, runId) => {
      if (runId !== null) {
        findLog(runId)?.dispose();
      } else {
        logTracker.forEach(w => void w.content.stream.recheck());
      }
    });

    commands.addCommand(CommandIDs.open, {
      label: trans.__('Open Scheduler'),
      caption: trans.__('Show the pipeline scheduler in the left sidebar'),
      icon: args => (args.isPalette ? undefined : schedulerIcon),
      execute: () => showPanel()
    });

    const openJobForm = (path = '') => {
      showPanel();
      model.showNewJobForm(path);
    };

    commands.addCommand(CommandIDs.newJob, {
      label: trans.__('New Scheduled Job'),
      caption: trans.__('Schedule a pipeline'),
      execute: args => openJobForm((args.path as string) || '')
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
        if (path) {
          openJobForm(path);
        }
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
        // One tab per run: opening it again shows the tab it already has.
        let widget = findLog(runId);
        if (!widget) {
          widget = createRunLogWidget(model, trans, runId, () =>
            model.confirmDeleteRun(runId)
          );
          void logTracker.add(widget);
          shell.add(widget, 'main');
        }
        shell.activateById(widget.id);
        return widget;
      }
    });

    const toolbarButtons = new ScheduleButtonExtension(model, trans, path =>
      openJobForm(path)
    );
    for (const factory of TOOLBAR_FACTORIES) {
      app.docRegistry.addWidgetExtension(factory, toolbarButtons);
    }

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
      const seconds = settings.get('pollIntervalSeconds').composite as number;
      model.setPollInterval(seconds);
      feed.setInterval(seconds);
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

    // The public interface.
    const scheduler = new PublicScheduler(model, openJobForm);
    return scheduler;
  }
};

export default [plugin, schedulerViewEntries, runLinkPlugin];
