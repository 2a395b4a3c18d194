import { MainAreaWidget, ReactWidget } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { Message } from '@lumino/messaging';
import * as React from 'react';

import { schedulerIcon } from '../icon';
import type { SchedulerModel } from '../model';
import { SchedulerMainView } from './SchedulerMainView';
import { SchedulerViewModel } from './viewModel';

/** The id of the main-area Scheduler view (one per page). */
export const SCHEDULER_VIEW_ID = 'pipeline-scheduler-view';

class SchedulerViewContent extends ReactWidget {
  constructor(
    readonly viewModel: SchedulerViewModel,
    private _trans: TranslationBundle,
    private _openLog: (runId: number) => void
  ) {
    super();
    this.addClass('jp-PipelineScheduler-viewContent');
  }

  render(): JSX.Element {
    return (
      <SchedulerMainView
        viewModel={this.viewModel}
        trans={this._trans}
        onOpenLog={this._openLog}
      />
    );
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.viewModel.setVisible(true);
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.viewModel.setVisible(this.isVisible);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.viewModel.setVisible(false);
  }

  dispose(): void {
    this.viewModel.dispose();
    super.dispose();
  }
}

/** The main-area Scheduler view: jobs table, job detail and runs timeline. */
export function createSchedulerViewWidget(
  model: SchedulerModel,
  trans: TranslationBundle,
  openLog: (runId: number) => void,
  pollIntervalSeconds?: number
): MainAreaWidget<ReactWidget> {
  const viewModel = new SchedulerViewModel({ model, pollIntervalSeconds });
  const content = new SchedulerViewContent(viewModel, trans, openLog);
  const widget = new MainAreaWidget<ReactWidget>({ content });
  widget.id = SCHEDULER_VIEW_ID;
  widget.title.label = trans.__('Scheduler');
  widget.title.icon = schedulerIcon;
  widget.title.closable = true;
  widget.addClass('jp-PipelineScheduler-viewWidget');
  return widget;
}
