/** Server errors -> the form fields they are about. */
import type { FormState } from './form/state';

/** The JobSpec field a server error names -> the form field that edits it. */
const SERVER_FIELDS: Record<string, keyof FormState> = {
  name: 'name',
  pipeline_path: 'pipelinePath',
  description: 'description',
  timeout_seconds: 'timeoutSeconds',
  max_retries: 'maxRetries',
  retry_delay_seconds: 'retryDelaySeconds',
  max_instances: 'maxInstances',
  catchup: 'catchup',
  env: 'env',
  secret_env: 'secretEnv',
  parameters: 'parameters',
  python_executable: 'pythonExecutable',
  working_dir: 'workingDir',
  kernel_name: 'kernelName',
  webhook_url: 'webhookUrl'
};

export interface ServerErrorPlacement {
  /** Messages to show at a field of the form. */
  fields: Partial<Record<keyof FormState, string>>;
  /** The parts that name no field of the form (e.g. a schedule field). */
  rest: string[];
}

/**
 * Place a server error at the fields it names. The server starts each
 * problem with the JobSpec field, e.g. `timeout_seconds: must be from 1 to
 * 604800, not 0`, and joins several problems with `; `
 * (`parameters.X: ...; env.Y: ...`).
 */
export function placeServerError(message: string): ServerErrorPlacement {
  const parts = message.split(/; (?=[a-z_][a-z0-9_]*(?:\.[^\s:;]+)*: )/);
  const result: ServerErrorPlacement = { fields: {}, rest: [] };
  for (const part of parts) {
    const match = /^([a-z_][a-z0-9_]*)[.:]/.exec(part);
    const field = match ? SERVER_FIELDS[match[1]] : undefined;
    if (field) {
      const previous = result.fields[field];
      result.fields[field] = previous ? `${previous}; ${part}` : part;
    } else {
      result.rest.push(part);
    }
  }
  return result;
}
