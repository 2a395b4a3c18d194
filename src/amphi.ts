/**
 * Amphi ETL's code generation for .ampln pipelines: the code is generated in
 * this page by Amphi's own command (the server cannot), and a job whose file
 * changed since its code was generated asks which code to run.
 */
import type { Contents } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { CommandRegistry } from '@lumino/commands';

import type { Job } from './api';
import { AskFunction, errorMessage } from './ask';

/** Amphi ETL's command that turns an .ampln pipeline into Python code. */
export const GENERATE_CODE_COMMAND = 'pipeline-editor:generate-code';

/** The .ampln code could not be generated; nothing was sent to the server. */
export class PipelineCodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PipelineCodeError';
  }
}

/** Which code a Run now of a changed .ampln pipeline runs (null: none). */
export type StaleCodeAnswer = 'regenerate' | 'stored' | null;

export interface AmphiCodeOptions {
  commands: CommandRegistry;
  contents: Contents.IManager;
  trans: TranslationBundle;
}

export class AmphiCode {
  constructor(options: AmphiCodeOptions) {
    this._commands = options.commands;
    this._contents = options.contents;
    this._trans = options.trans;
  }

  /** Whether Amphi's editor (and so its code generator) is installed. */
  get canGenerate(): boolean {
    return this._commands.hasCommand(GENERATE_CODE_COMMAND);
  }

  /**
   * Amphi's own code generator, run in this page on the file's text.
   * Throws a PipelineCodeError saying what to do when it cannot.
   */
  async generate(path: string): Promise<string> {
    if (!this.canGenerate) {
      throw new PipelineCodeError(
        this._trans.__(
          'Amphi ETL\'s pipeline editor is not installed, so the code of the .ampln pipeline "%1" cannot be generated. Install Amphi ETL in this JupyterLab, or schedule a .py file instead. Nothing was scheduled.',
          path
        )
      );
    }
    let text: string;
    try {
      const file = await this._contents.get(path, {
        content: true,
        format: 'text',
        type: 'file'
      });
      text =
        typeof file.content === 'string'
          ? file.content
          : JSON.stringify(file.content);
    } catch (error) {
      throw new PipelineCodeError(
        this._trans.__(
          'The pipeline "%1" could not be read: %2',
          path,
          errorMessage(error)
        )
      );
    }
    let code: unknown;
    try {
      code = await this._commands.execute(GENERATE_CODE_COMMAND, {
        json: text
      });
    } catch (error) {
      throw new PipelineCodeError(
        this._trans.__(
          'Amphi could not generate the code of "%1": %2. Open the pipeline in Amphi, fix it, and try again.',
          path,
          errorMessage(error)
        )
      );
    }
    if (typeof code !== 'string' || !code.trim()) {
      throw new PipelineCodeError(
        this._trans.__(
          'Amphi generated no code for "%1". Open the pipeline in Amphi, check that it is complete, and try again.',
          path
        )
      );
    }
    return code;
  }

  /**
   * The job's file changed after its code was generated (`pipeline_changed`):
   * ask whether to regenerate the code and run it, or run the stored code.
   */
  async askStaleCode(ask: AskFunction, job: Job): Promise<StaleCodeAnswer> {
    const answer = await ask({
      title: this._trans.__('The pipeline changed'),
      body: this._trans.__(
        '"%1" was changed after the code of "%2" was generated. Regenerate the code from the file as it is now and run it (the job keeps the new code), or run the code stored with the job?',
        job.pipeline_path,
        job.name
      ),
      buttons: [
        {
          label: this._trans.__('Cancel'),
          value: 'cancel',
          isCancel: true
        },
        { label: this._trans.__('Run the stored code'), value: 'stored' },
        {
          label: this._trans.__('Regenerate code and run'),
          value: 'regenerate'
        }
      ]
    });
    return answer === 'stored' || answer === 'regenerate' ? answer : null;
  }

  private _commands: CommandRegistry;
  private _contents: Contents.IManager;
  private _trans: TranslationBundle;
}
