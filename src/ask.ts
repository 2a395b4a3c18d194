/**
 * Questions the scheduler asks the person (discard a form, delete a job or
 * a run, run stale code). A JupyterLab dialog by default; tests replace it.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';

/** One button of a question (a JupyterLab dialog by default). */
export interface AskButton {
  label: string;
  /** What `ask` answers when this button is chosen. */
  value: string;
  /** The button that keeps things as they are (Escape answers it too). */
  isCancel?: boolean;
  /** The button does something that cannot be undone. */
  isWarn?: boolean;
}

export interface AskOptions {
  title: string;
  body: string;
  buttons: AskButton[];
}

/** Ask the person; answers the chosen button's value, or null for cancel. */
export type AskFunction = (options: AskOptions) => Promise<string | null>;

/** The default AskFunction: a JupyterLab dialog. */
export async function askWithDialog(
  options: AskOptions
): Promise<string | null> {
  const buttons = options.buttons.map(b =>
    b.isCancel
      ? Dialog.cancelButton({ label: b.label })
      : b.isWarn
        ? Dialog.warnButton({ label: b.label })
        : Dialog.okButton({ label: b.label })
  );
  const result = await showDialog({
    title: options.title,
    body: options.body,
    buttons
  });
  if (!result.button.accept) {
    return null;
  }
  const chosen = options.buttons.find(
    b => !b.isCancel && b.label === result.button.label
  );
  return chosen?.value ?? null;
}

/** A message a person can read, from whatever was thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
