"""Job and run routes through a real Jupyter server on SQLite and on PostgreSQL: a chosen
set of tests/api (jobs CRUD, pause, delete with its runs, run now waiting and not, a
failing run, run detail, filters and paging, cancel, clearing runs, the finished-runs
feed, run strips, next fire times, the timeline, backfills and re-runs), each run once per database by this
folder's ``extension_config``."""

from __future__ import annotations

from typing import Any

from api_support import SchedulerClient, interval_job
from test_backfill_api import (  # noqa: F401
    test_a_backfill_over_a_dst_change_runs_each_fire_time_once_with_its_logical_time,
    test_a_rerun_keeps_the_logical_time_and_the_overrides,
    test_cancel_stops_the_whole_backfill,
)
from test_jobs_api import (  # noqa: F401
    test_create_list_get_job,
    test_delete_job_removes_it_and_its_runs,
    test_pause_and_resume,
    test_post_with_id_of_existing_job_replaces_it,
    test_put_changes_only_the_given_fields,
    test_unknown_ids_answer_404_json,
)
from test_live_api import (  # noqa: F401
    test_feed_answers_each_finished_run_once_in_the_order_they_ended,
    test_feed_pages_with_a_limit_and_skips_deleted_runs,
)
from test_runs_api import (  # noqa: F401
    test_cancel_a_sleeping_pipeline,
    test_clear_runs_answers_the_count,
    test_run_detail_has_output_and_error,
    test_run_now_of_a_failing_pipeline,
    test_run_now_waits_and_answers_the_original_shape,
    test_run_now_without_waiting_answers_202_and_the_run,
    test_runs_filters_by_job_and_status,
    test_runs_paging_with_limit_and_before,
)
from test_view_api import (  # noqa: F401
    test_next_runs_of_an_interval_job_keep_its_countdown,
    test_recent_runs_answers_each_jobs_newest_runs_first,
    test_timeline_answers_runs_overlapping_the_range,
)


async def test_the_server_runs_on_the_database_asked_for(
    api: SchedulerClient, scheduler_app: Any, db_url: str
) -> None:
    service = scheduler_app.service
    dialect = service.store.engine.dialect.name
    assert dialect == ("postgresql" if db_url.startswith("postgresql") else "sqlite")
    # Leadership follows the database: a lease on PostgreSQL, the file lock on SQLite.
    assert type(service.leadership).__name__ == (
        "LeaseLeadership" if dialect == "postgresql" else "FileLockLeadership"
    )
    config = await api.get("config")
    assert config.status == 200 and config.body["scheduler_state"] == "active"
    job = await api.create_job(**interval_job("On the database"))
    assert [j["id"] for j in (await api.jobs())] == [job["id"]]
