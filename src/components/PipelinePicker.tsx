import { Dialog, ReactWidget } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import {
  fileIcon,
  folderIcon,
  notebookIcon,
  pythonIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import type { DirectoryEntry, SchedulerModel } from '../model';
import { errorMessage } from '../model';

export interface PickerProps {
  model: SchedulerModel;
  trans: TranslationBundle;
  startDirectory: string;
  initialSelection: string;
  onSelect: (path: string) => void;
  onAccept: () => void;
}

function parentOf(path: string): string {
  const index = path.lastIndexOf('/');
  return index === -1 ? '' : path.slice(0, index);
}

/** The workspace's folders and pipelines, browsed like the file browser. */
export function PipelinePicker(props: PickerProps): JSX.Element {
  const { model, trans } = props;
  const [directory, setDirectory] = React.useState(props.startDirectory);
  const [entries, setEntries] = React.useState<DirectoryEntry[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [showAll, setShowAll] = React.useState(false);
  const [selected, setSelected] = React.useState(props.initialSelection);

  React.useEffect(() => {
    let isCurrent = true;
    setEntries(null);
    setError(null);
    model
      .listDirectory(directory)
      .then(items => isCurrent && setEntries(items))
      .catch(err => {
        if (!isCurrent) {
          return;
        }
        if (directory) {
          // A folder that went away: fall back to the workspace root.
          setDirectory('');
        } else {
          setError(errorMessage(err));
        }
      });
    return () => {
      isCurrent = false;
    };
  }, [directory, model]);

  const select = (path: string) => {
    setSelected(path);
    props.onSelect(path);
  };

  const visible = (entries ?? []).filter(
    e => e.type === 'directory' || showAll || model.isSchedulable(e.name)
  );

  return (
    <div className="jp-scheduler-picker">
      <div className="jp-scheduler-pickerBar">
        <button
          type="button"
          className="jp-scheduler-linkButton"
          disabled={!directory}
          onClick={() => setDirectory(parentOf(directory))}
          aria-label={trans.__('Parent folder')}
          title={trans.__('Parent folder')}
        >
          ..
        </button>
        <span
          className="jp-scheduler-pickerPath"
          data-picker-directory={directory}
        >
          /{directory}
        </span>
      </div>
      <ul
        className="jp-scheduler-pickerList"
        role="listbox"
        aria-label={trans.__('Workspace files')}
      >
        {entries === null && !error && (
          <li className="jp-scheduler-muted">{trans.__('Loading…')}</li>
        )}
        {error && <li className="jp-scheduler-fieldError">{error}</li>}
        {entries !== null && visible.length === 0 && (
          <li className="jp-scheduler-muted">
            {showAll
              ? trans.__('This folder is empty.')
              : trans.__(
                  'No pipeline (%1) in this folder.',
                  model.allowedExtensions.join(', ')
                )}
          </li>
        )}
        {visible.map(entry => {
          const isDir = entry.type === 'directory';
          const Icon = isDir
            ? folderIcon
            : entry.name.endsWith('.py')
              ? pythonIcon
              : entry.name.endsWith('.ipynb')
                ? notebookIcon
                : fileIcon;
          return (
            <li
              key={entry.path}
              role="option"
              aria-selected={selected === entry.path}
            >
              <button
                type="button"
                className={`jp-scheduler-pickerItem${
                  selected === entry.path ? ' jp-mod-selected' : ''
                }`}
                data-path={entry.path}
                title={entry.path}
                onClick={() =>
                  isDir ? setDirectory(entry.path) : select(entry.path)
                }
                onDoubleClick={() => {
                  if (!isDir) {
                    select(entry.path);
                    props.onAccept();
                  }
                }}
              >
                <Icon.react tag="span" elementSize="normal" />
                <span>{entry.name}</span>
              </button>
            </li>
          );
        })}
      </ul>
      <label className="jp-scheduler-checkbox">
        <input
          type="checkbox"
          checked={showAll}
          onChange={e => setShowAll(e.currentTarget.checked)}
        />
        {trans.__('Show all files')}
      </label>
    </div>
  );
}

class PickerBody extends ReactWidget implements Dialog.IBodyWidget<string> {
  constructor(
    private _props: Omit<PickerProps, 'onSelect' | 'onAccept'>,
    private _onAccept: () => void
  ) {
    super();
    this._selected = _props.initialSelection;
    this.addClass('jp-scheduler-pickerBody');
  }

  getValue(): string {
    return this._selected;
  }

  render(): JSX.Element {
    return (
      <PipelinePicker
        {...this._props}
        onSelect={path => {
          this._selected = path;
        }}
        onAccept={this._onAccept}
      />
    );
  }

  private _selected: string;
}

/** Ask for a pipeline file; resolves to its path, or null when cancelled. */
export async function choosePipeline(
  model: SchedulerModel,
  trans: TranslationBundle,
  current: string
): Promise<string | null> {
  let dialog: Dialog<string> | null = null;
  const body = new PickerBody(
    {
      model,
      trans,
      startDirectory: model.isSchedulable(current) ? parentOf(current) : '',
      initialSelection: current
    },
    () => dialog?.resolve(1)
  );
  dialog = new Dialog<string>({
    title: trans.__('Choose a pipeline'),
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Select') })
    ]
  });
  const result = await dialog.launch();
  if (!result.button.accept || !result.value) {
    return null;
  }
  return result.value;
}
