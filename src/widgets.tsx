import { MainAreaWidget, ReactWidget } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import { RunLogView } from './components/RunLogView';
import { SchedulerView } from './components/SchedulerView';
import { schedulerIcon } from './icon';
import type { LogStream } from './logStream';
import type { SchedulerModel } from './model';

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

  /** The panel became visible (the person opened the Scheduler). */
  get shown(): ISignal<this, void> {
    return this._shown;
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
    this._shown.emit();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.setActive(false);
  }

  private _shown = new Signal<this, void>(this);
}

/** The content of a run's log tab. */
export class RunLogContent extends ReactWidget {
  constructor(
    readonly stream: LogStream,
    private _model: SchedulerModel,
    private _trans: TranslationBundle,
    private _onDelete: () => void
  ) {
    super();
    this.addClass('jp-scheduler-logContent');
  }

  get runId(): number {
    return this.stream.runId;
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
        onRerun={() => void model.rerun(this.stream.runId)}
      />
    );
  }

  /** Coming back to a finished log: check that the run still exists. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.stream.recheck();
  }

  dispose(): void {
    this.stream.dispose();
    super.dispose();
  }
}

export type RunLogWidget = MainAreaWidget<RunLogContent>;

/** A main-area tab showing one run's log. */
export function createRunLogWidget(
  model: SchedulerModel,
  trans: TranslationBundle,
  runId: number,
  confirmDelete: () => Promise<boolean>
): RunLogWidget {
  const stream = model.openLog(runId);
  let widget: RunLogWidget | null = null;
  const content = new RunLogContent(stream, model, trans, async () => {
    if ((await confirmDelete()) && (await model.deleteRun(runId))) {
      widget?.dispose();
    }
  });
  widget = new MainAreaWidget<RunLogContent>({ content });
  widget.id = `pipeline-scheduler-run-${runId}`;
  widget.title.label = trans.__('Run %1', runId);
  widget.title.icon = schedulerIcon;
  widget.title.closable = true;
  widget.title.dataset = { 'run-id': String(runId) };
  const retitle = () => {
    if (!widget) {
      return;
    }
    const name = stream.run?.job_name;
    if (stream.isDeleted) {
      widget.title.label = trans.__('Run %1 (deleted)', runId);
      widget.title.className = 'jp-scheduler-deletedRunTab';
    } else if (name) {
      widget.title.label = trans.__('Run %1: %2', runId, name);
    }
    if (name) {
      widget.title.caption = trans.__('Log of run %1 of "%2"', runId, name);
    }
  };
  stream.changed.connect(retitle);
  return widget;
}
