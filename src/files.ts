/**
 * The workspace's files as the scheduler needs them: folder listings for the
 * pipeline picker, and whether jobs' files are still there. Read through
 * JupyterLab's contents service.
 */
import type { Contents } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

/** How long a folder listing answers whether jobs' files exist. */
const FILE_CHECK_MS = 15000;
/** Folders listed per check at most (each is one contents request). */
const MAX_FOLDERS_CHECKED = 50;

export interface DirectoryEntry {
  name: string;
  path: string;
  type: 'directory' | 'file' | 'notebook';
}

export class WorkspaceFiles implements IDisposable {
  /**
   * `paths` answers the files to check (the jobs' pipeline paths); they are
   * checked again when the file browser changes a file.
   */
  constructor(contents: Contents.IManager, paths: () => ReadonlyArray<string>) {
    this._contents = contents;
    this._paths = paths;
    this._contents.fileChanged?.connect(this._onFileChanged, this);
  }

  /** The set of missing files changed. */
  get missingChanged(): ISignal<this, void> {
    return this._missingChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Whether the job's pipeline file is gone from the workspace (it would
   * fail when it runs). Known from a listing of each folder the jobs' files
   * are in, refreshed with the jobs and when the file browser changes a file.
   */
  fileMissing(job: { pipeline_path: string }): boolean {
    return this._missingFiles.has(job.pipeline_path);
  }

  async listDirectory(path: string): Promise<DirectoryEntry[]> {
    const model = await this._contents.get(path, { content: true });
    const items = (model.content || []) as Contents.IModel[];
    return items
      .filter(item => !item.name.startsWith('.'))
      .map(item => ({
        name: item.name,
        path: item.path,
        type: item.type === 'directory' ? 'directory' : ('file' as const)
      }))
      .sort((a, b) =>
        a.type === b.type
          ? a.name.localeCompare(b.name)
          : a.type === 'directory'
            ? -1
            : 1
      ) as DirectoryEntry[];
  }

  /** List each folder holding jobs' files (cached briefly) and note the missing files. */
  async check(): Promise<void> {
    if (this._checking || this._isDisposed) {
      return;
    }
    this._checking = true;
    try {
      const folders = new Map<string, string[]>();
      for (const path of this._paths()) {
        // Hidden folders are not listed by the contents API: no verdict.
        if (path.split('/').some(part => part.startsWith('.'))) {
          continue;
        }
        const folder = path.includes('/')
          ? path.slice(0, path.lastIndexOf('/'))
          : '';
        const files = folders.get(folder) ?? [];
        files.push(path);
        folders.set(folder, files);
      }
      const now = Date.now();
      const missing = new Set<string>();
      let checked = 0;
      for (const [folder, files] of folders) {
        if (checked++ >= MAX_FOLDERS_CHECKED) {
          break;
        }
        let names = this._folderListings.get(folder);
        if (!names || now - names.at > FILE_CHECK_MS) {
          const listed = await this._listNames(folder);
          if (listed === undefined) {
            continue;
          }
          names = { at: now, names: listed };
          this._folderListings.set(folder, names);
        }
        for (const path of files) {
          if (!names.names.has(path)) {
            missing.add(path);
          }
        }
      }
      const changed =
        missing.size !== this._missingFiles.size ||
        Array.from(missing).some(p => !this._missingFiles.has(p));
      this._missingFiles = missing;
      if (changed && !this._isDisposed) {
        this._missingChanged.emit();
      }
    } finally {
      this._checking = false;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._contents.fileChanged?.disconnect(this._onFileChanged, this);
    Signal.clearData(this);
  }

  /** The paths of a folder's files; an empty set when the folder is gone; undefined when unknown. */
  private async _listNames(folder: string): Promise<Set<string> | undefined> {
    try {
      const model = await this._contents.get(folder, { content: true });
      const items = (model.content || []) as Contents.IModel[];
      return new Set(items.map(item => item.path));
    } catch (error) {
      const status = (error as { response?: { status?: number } })?.response
        ?.status;
      return status === 404 ? new Set() : undefined;
    }
  }

  private _onFileChanged(
    _: Contents.IManager,
    change: Contents.IChangedArgs
  ): void {
    for (const value of [change.oldValue, change.newValue]) {
      const path = value?.path;
      if (typeof path === 'string') {
        this._folderListings.delete(
          path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : ''
        );
      }
    }
    void this.check();
  }

  private _contents: Contents.IManager;
  private _paths: () => ReadonlyArray<string>;
  private _isDisposed = false;
  private _checking = false;
  private _missingFiles = new Set<string>();
  private _folderListings = new Map<
    string,
    { at: number; names: Set<string> }
  >();
  private _missingChanged = new Signal<this, void>(this);
}
