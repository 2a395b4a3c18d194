"""The store and the service on SQLite and on PostgreSQL: a chosen set of the unit tests
(jobs CRUD, runs, restarts, interrupted runs, retention, the job list, the schedule
driver's APScheduler table, run ids), each run once per database by the ``settings``
fixture of this folder's conftest."""

from __future__ import annotations

from test_core_contract import (  # noqa: F401
    test_errors_carry_their_fields,
    test_retention_prunes_by_count_after_each_run_and_by_age_in_the_sweep,
    test_two_servers_creating_the_same_id_at_once,
)
from test_deadlines import test_missed_deadline_alerts_once_and_a_success_meets_it  # noqa: F401
from test_execution import (  # noqa: F401
    test_max_instances_skips_scheduled_fires_not_manual_runs,
    test_queued_running_success_recorded,
    test_run_ids_increase_and_are_never_reused,
)
from test_file_triggers import test_file_state_and_webhook_hash_in_the_store  # noqa: F401
from test_job_versions import test_versions_follow_the_definition_in_the_store  # noqa: F401
from test_list_cache import test_list_equals_each_job_read_afresh, test_list_follows_writes_of_another_server  # noqa: F401
from test_scheduling_driver import (  # noqa: F401
    test_put_and_next_run_times_read_apschedulers_table,
    test_reconcile_full_re_adds_only_when_the_schedule_changed,
)
from test_service import (  # noqa: F401
    test_an_interval_job_really_fires_repeatedly,
    test_create_get_list_update_replace_pause_resume_delete,
    test_jobs_runs_and_trigger_state_survive_a_restart,
    test_runs_are_listed_newest_first_with_filters_and_cursor_paging,
    test_runs_left_active_by_a_dead_server_are_marked_interrupted,
)
