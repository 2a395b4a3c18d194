/**
 * Answers shaped like the server's (the generated contract types), for the
 * component and model tests. Each test overrides only what it is about.
 */
import { nullTranslator } from '@jupyterlab/translation';

import type { Job, Run, RunsPage, SchedulerConfig } from '../api';

export const trans = nullTranslator.load('jupyterlab');

export function makeJob(overrides: Partial<Job> = {}): Job {
  return {
    id: 'job_a',
    name: 'Nightly load',
    pipeline_path: 'etl/load.py',
    schedule_type: 'cron',
    cron_expression: '0 3 * * *',
    timezone: 'Europe/Paris',
    trigger: "cron[minute='0', hour='3']",
    schedule_description: 'At 03:00 every day (Europe/Paris)',
    next_run_time: '2025-01-16T03:00:00+01:00',
    paused: false,
    last_run: null,
    active_run: null,
    code_hash: null,
    pipeline_changed: null,
    secret_env_keys: [],
    version: 1,
    created_at: '2025-01-01T10:00:00+00:00',
    updated_at: '2025-01-01T10:00:00+00:00',
    ...overrides
  };
}

export function makeRun(overrides: Partial<Run> = {}): Run {
  return {
    id: 1,
    job_id: 'job_a',
    job_name: 'Nightly load',
    pipeline_path: 'etl/load.py',
    status: 'success',
    triggered_by: 'schedule',
    attempt: 1,
    scheduled_for: '2025-01-15T03:00:00+01:00',
    created_at: '2025-01-15T02:00:00+00:00',
    started_at: '2025-01-15T02:00:00+00:00',
    finished_at: '2025-01-15T02:00:04+00:00',
    duration_seconds: 4,
    exit_code: 0,
    has_notebook: false,
    log_size: 120,
    log_truncated: false,
    message: null,
    pipeline_changed: null,
    ...overrides
  };
}

export function runsPage(
  runs: Run[],
  nextCursor: number | null = null
): RunsPage {
  return { runs, next_cursor: nextCursor };
}

export function makeConfig(
  overrides: Partial<SchedulerConfig> = {}
): SchedulerConfig {
  return {
    amphi_dir: '/workspace',
    allowed_extensions: ['.py', '.ampln', '.ipynb'],
    allow_inline_code: false,
    max_concurrent_runs: 2,
    queue_length: 0,
    running_runs: 0,
    retention_max_age_days: 0,
    retention_max_runs_per_job: 0,
    scheduler_state: 'active',
    shutdown_policy: 'cancel',
    timezone: 'UTC',
    version: '0.10.0',
    ...overrides
  };
}
