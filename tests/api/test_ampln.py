"""An Amphi .ampln pipeline scheduled with its generated Python code (as the Scheduler
panel sends it): the stored code runs in the pipeline's folder and writes its output."""

from __future__ import annotations

import csv
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from api_support import SchedulerClient, interval_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GENERATED_CODE = textwrap.dedent(
    """
    import csv
    from pathlib import Path

    with open("data/customers.csv", newline="", encoding="utf-8") as f:
        rows = [row for row in csv.DictReader(f) if row["country"] == "France"]
    Path("output").mkdir(exist_ok=True)
    with open("output/customers_fr.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "name", "country"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"MARKER {{marker}}: wrote {len(rows)} rows")
    """
).lstrip()


def code(marker: str) -> str:
    return GENERATED_CODE.replace("{{marker}}", marker)


@pytest.fixture
def amphi_workspace(workspace: Path) -> Path:
    shutil.copy(EXAMPLES / "customers_fr.ampln", workspace / "customers_fr.ampln")
    (workspace / "data").mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / "data" / "customers.csv", workspace / "data" / "customers.csv")
    return workspace


async def test_ampln_job_runs_its_generated_code(api: SchedulerClient, amphi_workspace: Path) -> None:
    job = await api.create_job(
        **interval_job("French customers", path="customers_fr.ampln"), python_code=code("v1")
    )
    assert job["pipeline_path"] == "customers_fr.ampln"
    assert job["python_code"] == code("v1")
    assert isinstance(job["code_hash"], str) and len(job["code_hash"]) == 64
    assert job["pipeline_changed"] is False
    assert "python_code" not in (await api.jobs())[0]

    result = await api.run_now(job["id"])
    assert result["success"] is True, result
    assert "MARKER v1: wrote 2 rows" in result["output"]
    output = amphi_workspace / "output" / "customers_fr.csv"
    assert output.is_file(), "the pipeline runs in its folder and writes output/ there"
    with open(output, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["Alice", "Chloé"]
    run = (await api.get(f"runs/{result['run_id']}")).body
    assert run["pipeline_changed"] is False


async def test_ampln_job_needs_python_code(api: SchedulerClient, amphi_workspace: Path) -> None:
    for payload in (
        interval_job("no code", path="customers_fr.ampln"),
        {**interval_job("blank code", path="customers_fr.ampln"), "python_code": "   \n"},
    ):
        reply = await api.post("jobs", payload)
        assert reply.status == 400, reply
        assert "python_code" in reply.body["error"]
    assert await api.jobs() == []


async def test_run_now_with_new_code_refreshes_the_stored_code(
    api: SchedulerClient, amphi_workspace: Path
) -> None:
    job = await api.create_job(
        **interval_job("French customers", path="customers_fr.ampln"), python_code=code("v1")
    )
    # The pipeline file is edited after its code was generated: the job notices.
    ampln = amphi_workspace / "customers_fr.ampln"
    ampln.write_text(ampln.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    stale = (await api.get(f"jobs/{job['id']}")).body
    assert stale["pipeline_changed"] is True
    stale_run = await api.run_now(job["id"])
    assert "MARKER v1" in stale_run["output"]
    assert (await api.get(f"runs/{stale_run['run_id']}")).body["pipeline_changed"] is True

    result = await api.run_now(job["id"], python_code=code("v2"))
    assert result["success"] is True, result
    assert "MARKER v2: wrote 2 rows" in result["output"]
    refreshed = (await api.get(f"jobs/{job['id']}")).body
    assert refreshed["python_code"] == code("v2")
    assert refreshed["pipeline_changed"] is False
    assert refreshed["code_hash"] != job["code_hash"]
    assert (await api.get(f"runs/{result['run_id']}")).body["pipeline_changed"] is False

    # Later runs (a scheduled one would too) use the refreshed code.
    again = await api.run_now(job["id"])
    assert "MARKER v2" in again["output"]

    bad = await api.post(f"run/{job['id']}", {"python_code": 42})
    assert bad.status == 400 and "python_code" in bad.body["error"], bad
    assert (await api.get(f"jobs/{job['id']}")).body["python_code"] == code("v2")


async def test_failing_generated_code_is_a_failure(api: SchedulerClient, amphi_workspace: Path) -> None:
    job = await api.create_job(
        **interval_job("broken", path="customers_fr.ampln"),
        python_code="raise SystemExit('generated code failed')\n",
    )
    result = await api.run_now(job["id"])
    assert result["success"] is False
    assert result["exit_code"] == 1
    assert "generated code failed" in result["error"]


class TestCodeLimits:
    @pytest.fixture
    def extension_config(self, db_file: Path) -> dict[str, Any]:
        return {"timezone": "UTC", "db_url": f"sqlite:///{db_file}", "max_code_bytes": 1000}

    async def test_oversized_python_code_is_refused(
        self, api: SchedulerClient, amphi_workspace: Path
    ) -> None:
        spec = interval_job("big", path="customers_fr.ampln")
        reply = await api.post("jobs", {**spec, "python_code": "# " + "x" * 1000 + "\n"})
        assert reply.status == 413, reply
        assert "python_code" in reply.body["error"]
        assert await api.jobs() == []
        job = await api.create_job(**spec, python_code=code("small"))
        refresh = await api.post(f"run/{job['id']}", {"python_code": "# " + "x" * 1000 + "\n"})
        assert refresh.status == 413, refresh
        assert (await api.get(f"jobs/{job['id']}")).body["python_code"] == code("small")
        assert await api.runs() == []


class TestInlineCodeOff:
    @pytest.fixture
    def extension_config(self, db_file: Path) -> dict[str, Any]:
        return {"timezone": "UTC", "db_url": f"sqlite:///{db_file}", "allow_inline_code": False}

    async def test_ampln_is_refused_when_inline_code_is_off(
        self, api: SchedulerClient, amphi_workspace: Path
    ) -> None:
        reply = await api.post(
            "jobs", {**interval_job("x", path="customers_fr.ampln"), "python_code": code("v1")}
        )
        assert reply.status == 400, reply
        assert "allow_inline_code" in reply.body["error"]
        assert (await api.post("jobs", interval_job("plain .py still works"))).status == 201
