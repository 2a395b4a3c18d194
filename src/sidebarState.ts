/**
 * What the sidebar shows: the current view (jobs, runs or the job form), the
 * banner, and the open form's draft. Nothing here talks to the server.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';

import { AskFunction, errorMessage } from './ask';
import { FormState, isFormChanged } from './form/state';

const INFO_BANNER_MS = 6000;

export type FormMode = 'create' | 'edit' | 'duplicate';

export type View =
  | { kind: 'jobs' }
  | { kind: 'runs' }
  | {
      kind: 'form';
      mode: FormMode;
      /** The job edited (edit mode only). */
      jobId?: string;
      initial: FormState;
      /** Bumped each time a form is opened, so the form resets its state. */
      key: number;
    };

export interface Banner {
  kind: 'error' | 'info';
  text: string;
}

/** Where the stores report what a person should read (the banner). */
export interface Notices {
  showInfo(text: string): void;
  showError(error: unknown): void;
  /** Take an error banner away (the server answers again). */
  dismissError(): void;
}

export interface SidebarStateOptions {
  trans: TranslationBundle;
  ask: AskFunction;
}

export class SidebarState implements Notices {
  constructor(options: SidebarStateOptions) {
    this._trans = options.trans;
    this._ask = options.ask;
  }

  /** The view (jobs, runs, a form) changed. */
  get viewChanged(): ISignal<this, void> {
    return this._viewChanged;
  }

  /** The banner appeared, changed or went away. */
  get bannerChanged(): ISignal<this, void> {
    return this._bannerChanged;
  }

  get view(): View {
    return this._view;
  }

  get banner(): Banner | null {
    return this._banner;
  }

  /* ------------------------------ views ----------------------------- */

  setView(view: { kind: 'jobs' } | { kind: 'runs' }): void {
    this._view = view;
    this._draft = null;
    this._viewChanged.emit();
  }

  /** Open a fresh form (its draft starts as `initial`). */
  openForm(mode: FormMode, initial: FormState, jobId?: string): void {
    const view: View = { kind: 'form', mode, initial, key: ++this._formKey };
    if (jobId !== undefined) {
      view.jobId = jobId;
    }
    this._draft = initial;
    this._view = view;
    this._viewChanged.emit();
  }

  /**
   * Open another view once the form may go: at once when nothing in it
   * changed (so callers see the new view synchronously), else after asking.
   */
  afterLeavingForm(open: () => boolean | Promise<boolean>): Promise<boolean> {
    if (!this.isFormChanged) {
      return Promise.resolve(open());
    }
    return this.confirmDiscardForm().then(isDiscarded =>
      isDiscarded ? open() : false
    );
  }

  /* ------------------------------ form ------------------------------ */

  /**
   * The open form's state as last typed: kept here (not only in the form's
   * React state) so a half-filled form survives its view being closed and
   * opened again. Null when no form is open.
   */
  get formDraft(): FormState | null {
    return this._view.kind === 'form' ? this._draft : null;
  }

  /** The form reports each change; nothing re-renders for it. */
  setFormDraft(form: FormState): void {
    if (this._view.kind === 'form') {
      this._draft = form;
    }
  }

  /** Whether the open form differs from what it opened with. */
  get isFormChanged(): boolean {
    return (
      this._view.kind === 'form' &&
      this._draft !== null &&
      isFormChanged(this._view.initial, this._draft)
    );
  }

  /**
   * Before the form goes away: nothing to lose answers true at once; a
   * changed form asks whether to discard it.
   */
  async confirmDiscardForm(): Promise<boolean> {
    if (!this.isFormChanged) {
      return true;
    }
    if (this._asking) {
      return false;
    }
    this._asking = true;
    try {
      const answer = await this._ask({
        title: this._trans.__('Discard the changes?'),
        body: this._trans.__(
          'The job form has changes that are not saved. Discard them, or keep editing?'
        ),
        buttons: [
          {
            label: this._trans.__('Keep editing'),
            value: 'keep',
            isCancel: true
          },
          { label: this._trans.__('Discard'), value: 'discard', isWarn: true }
        ]
      });
      return answer === 'discard';
    } finally {
      this._asking = false;
    }
  }

  /* ----------------------------- banner ----------------------------- */

  /** A passing message; it goes away by itself after a few seconds. */
  showInfo(text: string): void {
    const banner: Banner = { kind: 'info', text };
    this._banner = banner;
    this._bannerChanged.emit();
    window.setTimeout(() => {
      if (this._banner === banner) {
        this.dismissBanner();
      }
    }, INFO_BANNER_MS);
  }

  showError(error: unknown): void {
    this._banner = { kind: 'error', text: errorMessage(error) };
    this._bannerChanged.emit();
  }

  dismissBanner(): void {
    this._banner = null;
    this._bannerChanged.emit();
  }

  dismissError(): void {
    if (this._banner?.kind === 'error') {
      this.dismissBanner();
    }
  }

  dispose(): void {
    Signal.clearData(this);
  }

  private _trans: TranslationBundle;
  private _ask: AskFunction;
  private _asking = false;
  private _view: View = { kind: 'jobs' };
  private _formKey = 0;
  private _draft: FormState | null = null;
  private _banner: Banner | null = null;
  private _viewChanged = new Signal<this, void>(this);
  private _bannerChanged = new Signal<this, void>(this);
}
