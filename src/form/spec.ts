/**
 * The JobSpec of the REST contract (docs/api.md, DESIGN.md section 4): the JSON
 * field names the form sends, written down once (api.ts re-exports them).
 */

export type ScheduleType = 'date' | 'interval' | 'cron' | 'trigger' | 'file';
export type DateType = 'once' | 'daily' | 'weekly' | 'monthly' | 'every_x_days';
export type LogicalOperator = 'AND' | 'OR';
export type TriggerOn = 'success' | 'failure';
/** What a fire time missed while no server ran does: run once at start-up, or skip. */
// 'run_once' and 'skip' are the older names of 'latest' and 'none' (still accepted).
export type CatchupPolicy = 'all' | 'latest' | 'none' | 'run_once' | 'skip';
/** What raises a job's alerts: a final failure, the first success after one, a missed deadline. */
export type AlertOn = 'failure' | 'recovery' | 'deadline';
export const ALERT_KINDS: AlertOn[] = ['failure', 'recovery', 'deadline'];
/** A parameter's JSON value (docs/api.md: `"parameters": {"LIMIT": 100}`). */
export type ParameterValue = string | number | boolean;

export interface TriggerCondition {
  job_id: string;
  on: TriggerOn;
}

/** The schedule part of a JobSpec: what `POST schedule/preview` takes. */
export interface ScheduleSpec {
  schedule_type: ScheduleType;
  date_type?: DateType;
  run_date?: string;
  interval_days?: number;
  interval_seconds?: number;
  cron_expression?: string;
  logical_operator?: LogicalOperator;
  trigger_conditions?: TriggerCondition[];
  /** schedule_type 'file': a glob of workspace files, e.g. 'data/incoming/*.csv'. */
  watch_path?: string;
  /** schedule_type 'file': seconds without changes before files count as arrived. */
  watch_debounce_seconds?: number | null;
  timezone?: string;
}

/**
 * The execution options of a JobSpec. `null` clears an option on PUT (the
 * form sends it for an option emptied while editing); a new job simply leaves
 * the empty ones out.
 */
export interface ExecutionSpec {
  max_instances?: number | null;
  catchup?: CatchupPolicy | null;
  timeout_seconds?: number | null;
  max_retries?: number | null;
  retry_delay_seconds?: number | null;
  env?: Record<string, string> | null;
  /** Write-only: sent only when the person changed the secrets; `{}` removes them all. */
  secret_env?: Record<string, string>;
  parameters?: Record<string, ParameterValue> | null;
  python_executable?: string | null;
  working_dir?: string | null;
  kernel_name?: string | null;
  webhook_url?: string | null;
  /** 'HH:MM' or 'HH:MM:SS' in the job's zone: a run must have succeeded by then each day. */
  deadline_time?: string | null;
  max_duration_minutes?: number | null;
  slack_webhook_url?: string | null;
  alert_emails?: string[] | null;
  /** null: the server's `alert_on` setting. */
  alert_on?: AlertOn[] | null;
}

/** What `POST jobs` and `PUT jobs/{id}` take. */
export interface JobSpec extends ScheduleSpec, ExecutionSpec {
  name: string;
  pipeline_path: string;
  python_code?: string;
  id?: string;
  paused?: boolean;
  description?: string;
  coalesce?: boolean;
  misfire_grace_time?: number;
}
