/**
 * One run's log, read in chunks from `runs/{id}/log?offset=` while the run is
 * going on, then once more for the end. It keeps which parts of the text came
 * from stderr (the server answers them as `stderr_ranges` of each chunk).
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { Run, SchedulerAPI, SchedulerAPIError } from './api';
import { formatTimestamp } from './time';

const LOG_POLL_MS = 1000;
const LOG_CHUNK_BYTES = 256 * 1024;
/** Kept in the page for one open log; the whole log stays on the server. */
export const MAX_LOG_CHARS = 2 * 1024 * 1024;

/**
 * The start time in the header the server writes first in every log (in the
 * server's zone, ISO 8601): shown in the person's own format instead, as every
 * other time (the downloaded file keeps the server's text).
 */
const HEADER_TIME =
  /^(\[amphi-scheduler\] run \d+ .*, started )(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))$/m;

/** A [start, end) part of the text, in string indexes. */
export type TextRange = [number, number];

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The log's first chunk with its header's time in the person's format. */
function localizeHeader(
  data: string,
  ranges: number[][] | undefined
): { data: string; stderr_ranges: number[][] } {
  const found = HEADER_TIME.exec(data.slice(0, 4096));
  const local = found ? formatTimestamp(found[2]) : '';
  if (!found || !local) {
    return { data, stderr_ranges: ranges ?? [] };
  }
  const at = found.index + found[1].length;
  const end = at + found[2].length;
  const delta = local.length - found[2].length;
  return {
    data: data.slice(0, at) + local + data.slice(end),
    stderr_ranges: (ranges ?? []).map(([a, b]) =>
      a >= end ? [a + delta, b + delta] : [a, b]
    )
  };
}

export class LogStream implements IDisposable {
  constructor(
    private _api: SchedulerAPI,
    readonly runId: number
  ) {
    void this._start();
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }
  get text(): string {
    return this._text;
  }
  /** The parts of `text` the pipeline wrote to stderr, sorted, never touching. */
  get stderrRanges(): ReadonlyArray<TextRange> {
    return this._stderr;
  }
  /** Bumped on every change of the text (for memoised views of it). */
  get version(): number {
    return this._version;
  }
  get run(): Run | null {
    return this._run;
  }
  get isFinished(): boolean {
    return this._isFinished;
  }
  /** The server no longer has this run (it was deleted). */
  get isDeleted(): boolean {
    return this._isDeleted;
  }
  /** Earlier output was dropped from this view to keep the page light. */
  get isTrimmed(): boolean {
    return this._isTrimmed;
  }
  get error(): string | null {
    return this._error;
  }
  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Download the whole log, as the server streams it (not this view's text). */
  download(): void {
    const link = document.createElement('a');
    link.href = this._api.logDownloadUrl(this.runId);
    link.download = '';
    link.style.display = 'none';
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  /**
   * Ask the server whether the run still exists (after history was cleared
   * elsewhere); a finished stream reads nothing more otherwise.
   */
  async recheck(): Promise<void> {
    if (this._isDisposed || this._isDeleted || !this._isFinished) {
      return;
    }
    try {
      this._run = await this._api.getRun(this.runId);
    } catch (error) {
      if (error instanceof SchedulerAPIError && error.status === 404) {
        this._markDeleted(error.message);
      }
      return;
    }
    this._emit();
  }

  /** The run was deleted (from this page or elsewhere). */
  markDeleted(): void {
    this._markDeleted(null);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    Signal.clearData(this);
  }

  private _markDeleted(message: string | null): void {
    this._isDeleted = true;
    this._isFinished = true;
    this._error = message;
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this._emit();
  }

  private async _start(): Promise<void> {
    try {
      this._run = await this._api.getRun(this.runId);
    } catch (error) {
      if (error instanceof SchedulerAPIError && error.status === 404) {
        this._markDeleted(error.message);
        return;
      }
      this._error = messageOf(error);
      this._isFinished = true;
      this._emit();
      return;
    }
    this._emit();
    await this._readMore();
  }

  private async _readMore(): Promise<void> {
    if (this._isDisposed || this._isDeleted) {
      return;
    }
    let chunk;
    try {
      chunk = await this._api.getRunLog(
        this.runId,
        this._offset,
        LOG_CHUNK_BYTES
      );
      if (chunk.offset === 0) {
        chunk = {
          ...chunk,
          ...localizeHeader(chunk.data, chunk.stderr_ranges)
        };
      }
    } catch (error) {
      if (error instanceof SchedulerAPIError && error.status === 404) {
        this._markDeleted(error.message);
        return;
      }
      this._error = messageOf(error);
      this._emit();
      this._later(LOG_POLL_MS * 3);
      return;
    }
    if (this._isDisposed) {
      return;
    }
    this._error = null;
    if (chunk.data) {
      this._append(chunk.data, chunk.stderr_ranges ?? []);
    }
    this._offset = chunk.next_offset;
    const moreWaiting = chunk.next_offset < chunk.size;
    if (this._run && this._run.status !== chunk.status) {
      this._run = { ...this._run, status: chunk.status };
    }
    if (moreWaiting) {
      this._emit();
      this._later(0);
      return;
    }
    if (chunk.finished) {
      try {
        this._run = await this._api.getRun(this.runId);
      } catch {
        // The log is complete; the details are only a nicety.
      }
      this._isFinished = true;
      this._emit();
      return;
    }
    this._emit();
    this._later(LOG_POLL_MS);
  }

  private _append(data: string, ranges: ReadonlyArray<number[]>): void {
    const base = this._text.length;
    let text = this._text + data;
    const stderr = this._stderr.slice();
    for (const [a, b] of ranges) {
      const start = base + a;
      const end = base + b;
      const last = stderr[stderr.length - 1];
      if (last && last[1] === start) {
        last[1] = end;
      } else if (end > start) {
        stderr.push([start, end]);
      }
    }
    if (text.length > MAX_LOG_CHARS) {
      const cut = text.length - MAX_LOG_CHARS;
      text = text.slice(cut);
      this._isTrimmed = true;
      this._stderr = stderr
        .filter(([, end]) => end > cut)
        .map(([start, end]) => [Math.max(0, start - cut), end - cut]);
    } else {
      this._stderr = stderr;
    }
    this._text = text;
    this._version++;
  }

  private _later(ms: number): void {
    this._timer = window.setTimeout(() => {
      this._timer = null;
      void this._readMore();
    }, ms);
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private _text = '';
  private _stderr: TextRange[] = [];
  private _version = 0;
  private _offset = 0;
  private _run: Run | null = null;
  private _isFinished = false;
  private _isDeleted = false;
  private _isTrimmed = false;
  private _error: string | null = null;
  private _isDisposed = false;
  private _timer: number | null = null;
  private _changed = new Signal<this, void>(this);
}
