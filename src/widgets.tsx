import { MainAreaWidget, ReactWidget } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { RunLogView } from './components/RunLogView';
import { SchedulerView } from './components/SchedulerView';
import { schedulerIcon } from './icon';
import type { LogStream, SchedulerModel } from './model';

/** The left sidebar panel. Polling runs only while it is shown. */
export class SchedulerPanel extends ReactWidget {
  constructor(
    readonly model: SchedulerModel,
    private _trans: TranslationBundle,
    private _openLog: (runId: number) => void,
    private _openView?: () => void
  ) {
    super();
    this.id = 'pipeline-scheduler-panel';
    this.addClass('jp-scheduler-panel');
    this.title.icon = schedulerIcon;
    this.title.caption = _trans.__('Scheduler');
  }

  render(): JSX.Element {
    return (
      <SchedulerView
        model={this.model}
        trans={this._trans}
        onOpenLog={this._openLog}
        onOpenView={this._openView}
      />
    );
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.setActive(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.setActive(false);
  }
}

class RunLogContent extends ReactWidget {
  constructor(
    readonly stream: LogStream,
    private _model: SchedulerModel,
    private _trans: TranslationBundle,
    private _onDelete: () => void
  ) {
    super();
    this.addClass('jp-scheduler-logContent');
  }

  render(): JSX.Element {
    const model = this._model;
    return (
      <RunLogView
        stream={this.stream}
        trans={this._trans}
        job={jobId => model.job(jobId)}
        onDelete={this._onDelete}
        onCancel={() => model.cancelRun(this.stream.runId)}
        onDownloadNotebook={run => model.downloadNotebook(run)}
      />
    );
  }

  dispose(): void {
    this.stream.dispose();
    super.dispose();
  }
}

/** A main-area tab showing one run's log. */
export function createRunLogWidget(
  model: SchedulerModel,
  trans: TranslationBundle,
  runId: number,
  confirmDelete: () => Promise<boolean>
): MainAreaWidget<ReactWidget> {
  const stream = model.openLog(runId);
  let widget: MainAreaWidget<ReactWidget> | null = null;
  const content = new RunLogContent(stream, model, trans, async () => {
    if ((await confirmDelete()) && (await model.deleteRun(runId))) {
      widget?.dispose();
    }
  });
  widget = new MainAreaWidget<ReactWidget>({ content });
  widget.id = `pipeline-scheduler-run-${runId}`;
  widget.title.label = trans.__('Run %1', runId);
  widget.title.icon = schedulerIcon;
  widget.title.closable = true;
  stream.changed.connect(() => {
    if (stream.run && widget) {
      widget.title.label = trans.__('Run %1: %2', runId, stream.run.job_name);
    }
  });
  return widget;
}
