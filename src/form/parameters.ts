/** A parameter's value: the text the form edits <-> the JSON value sent. */
import type { ParameterValue } from './spec';

/**
 * A parameter's value as typed -> its JSON value. `true` / `false` become
 * booleans; a number becomes a JSON number only when it reads back exactly
 * as typed (`100`, `-2.5`, `0.1`), so the environment variable the pipeline
 * gets is the text that was typed. Everything else stays text: `007`, `1.50`,
 * `1e3`, `TRUE`, `" 5"`, the empty string.
 */
export function parseParameterValue(text: string): ParameterValue {
  if (text === 'true') {
    return true;
  }
  if (text === 'false') {
    return false;
  }
  if (/^-?\d+(\.\d+)?$/.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n) && String(n) === text) {
      return n;
    }
  }
  return text;
}

/** The text a parameter's value is edited as (the inverse of parseParameterValue). */
export function formatParameterValue(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  return value === null || value === undefined ? '' : JSON.stringify(value);
}
