/**
 * The server's config: the extensions it runs, the workspace root, and
 * whether this server is the active scheduler.
 */
import { ISignal, Signal } from '@lumino/signaling';

import type { SchedulerAPI, SchedulerConfig } from '../api';
import { PIPELINE_EXTENSIONS } from '../paths';

export class ConfigStore {
  constructor(api: SchedulerAPI) {
    this._api = api;
  }

  /** The allowed extensions or the scheduler state changed. */
  get configChanged(): ISignal<this, void> {
    return this._configChanged;
  }

  get config(): SchedulerConfig | null {
    return this._config;
  }

  /** The workspace's absolute path on the server (kept out of messages). */
  get workspaceRoot(): string | undefined {
    return this._config?.amphi_dir;
  }

  /**
   * 'standby' when another Jupyter server holds this workspace's scheduler
   * lock: this one serves the API but fires nothing.
   */
  get schedulerState(): 'active' | 'standby' | null {
    return this._config?.scheduler_state ?? null;
  }

  /** File extensions the server runs (from its config; .py, .ampln, .ipynb until known). */
  get allowedExtensions(): ReadonlyArray<string> {
    return this._config?.allowed_extensions ?? PIPELINE_EXTENSIONS;
  }

  isSchedulable(path: string): boolean {
    const lower = path.toLowerCase();
    return this.allowedExtensions.some(ext =>
      lower.endsWith(ext.toLowerCase())
    );
  }

  /**
   * Read the config again (the scheduler state can change, so it is read
   * with the jobs). A failed read keeps the config known.
   */
  async refresh(): Promise<void> {
    const config = await this._api.getConfig().catch(() => null);
    if (config) {
      const changed =
        config.scheduler_state !== this._config?.scheduler_state ||
        config.allowed_extensions.join() !==
          this._config?.allowed_extensions.join();
      this._config = config;
      if (changed) {
        this._configChanged.emit();
      }
    }
  }

  dispose(): void {
    Signal.clearData(this);
  }

  private _api: SchedulerAPI;
  private _config: SchedulerConfig | null = null;
  private _configChanged = new Signal<this, void>(this);
}
