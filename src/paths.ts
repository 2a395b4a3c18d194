/** Pipeline files: which the server runs, their kinds, and names made from them. */

export const PIPELINE_EXTENSIONS = ['.py', '.ampln', '.ipynb'];

export function isPipelinePath(path: string): boolean {
  const lower = path.toLowerCase();
  return PIPELINE_EXTENSIONS.some(ext => lower.endsWith(ext));
}

export function isAmplnPath(path: string): boolean {
  return path.trim().toLowerCase().endsWith('.ampln');
}

export function isNotebookPath(path: string): boolean {
  return path.trim().toLowerCase().endsWith('.ipynb');
}

/** "etl/nightly_load.py" -> "nightly_load" */
export function defaultJobName(pipelinePath: string): string {
  const base = pipelinePath.split('/').pop() || pipelinePath;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/* ------------------------------------------------------------------ */
/* Executed notebook download                                           */
/* ------------------------------------------------------------------ */

/**
 * The file name of a run's executed notebook: the server's
 * Content-Disposition, else `<name>-run-<id>.ipynb`. Never a path.
 */
export function notebookFileName(
  contentDisposition: string | null | undefined,
  pipelinePath: string,
  runId: number
): string {
  const header = contentDisposition || '';
  let name = '';
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (star) {
    try {
      name = decodeURIComponent(star[1].trim());
    } catch {
      name = '';
    }
  }
  if (!name) {
    const plain = /filename\s*=\s*(?:"([^"]*)"|([^;]+))/.exec(header);
    name = plain ? (plain[1] ?? plain[2] ?? '').trim() : '';
  }
  name = name.split(/[\\/]/).pop() || '';
  if (!name) {
    name = `${defaultJobName(pipelinePath) || 'notebook'}-run-${runId}.ipynb`;
  }
  return name;
}
