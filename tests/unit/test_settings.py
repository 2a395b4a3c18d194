"""SchedulerSettings: defaults and resolved values, copies (``replace``, ``of``), and the
extension app reading the same traits from traitlets configuration (defined once)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from traitlets.config import Config, Configurable

from pipeline_scheduler.extension import PipelineSchedulerApp
from pipeline_scheduler.settings import SchedulerSettings

CONFIG_TRAITS = SchedulerSettings.class_trait_names(config=True)


def test_defaults_resolve_under_the_workspace(tmp_path: Path) -> None:
    s = SchedulerSettings(workspace_dir=str(tmp_path))
    root = tmp_path.resolve()
    assert s.root_dir == root
    assert s.amphi_dir == root / ".amphi"
    assert s.database_url == f"sqlite:///{root / '.amphi' / 'scheduler.sqlite'}"
    assert s.runs_dir == root / ".amphi" / "runs"
    assert s.lock_path == root / ".amphi" / "scheduler.lock"
    assert s.concurrency == max(1, os.cpu_count() or 2)
    assert s.interpreter == sys.executable
    assert s.timeout_default is None
    assert s.extensions == (".py", ".ampln", ".ipynb")
    assert s.catchup == "latest" and s.shutdown_policy == "cancel"
    assert s.misfire_grace_time == 60 and s.run_scheduler is True
    assert s.zone_name  # the server's zone, never empty


def test_workspace_defaults_to_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert SchedulerSettings().root_dir == tmp_path.resolve()


def test_explicit_values_win(tmp_path: Path) -> None:
    s = SchedulerSettings(
        workspace_dir=str(tmp_path / "ws"),
        log_dir=str(tmp_path / "logs"),
        max_concurrent_runs=3,
        default_timeout_seconds=12.5,
        python_executable="/opt/py/bin/python",
        allowed_extensions=["py", ".ipynb"],
        timezone="Asia/Tokyo",
    )
    assert s.runs_dir == (tmp_path / "logs").resolve()
    assert s.concurrency == 3
    assert s.timeout_default == 12.5
    assert s.interpreter == "/opt/py/bin/python"
    assert s.extensions == (".py", ".ipynb")  # a missing dot is added
    assert s.zone_name == "Asia/Tokyo" and str(s.tz) == "Asia/Tokyo"


def test_db_path_and_db_url(tmp_path: Path) -> None:
    by_path = SchedulerSettings(workspace_dir=str(tmp_path), dbPath=str(tmp_path / "x" / "old.db"))
    assert by_path.database_url == f"sqlite:///{(tmp_path / 'x' / 'old.db').resolve()}"
    both = SchedulerSettings(
        workspace_dir=str(tmp_path), dbPath=str(tmp_path / "old.db"), db_url="postgresql://h/db"
    )
    assert both.database_url == "postgresql://h/db"
    assert SchedulerSettings(workspace_dir=str(tmp_path), db_url="sqlite:///:memory:").database_url == (
        "sqlite:///:memory:"
    )


def test_replace_copies_and_overrides(tmp_path: Path) -> None:
    s = SchedulerSettings(workspace_dir=str(tmp_path), timezone="UTC", max_concurrent_runs=2)
    copy = s.replace(max_concurrent_runs=7, shutdown_policy="wait")
    assert copy is not s
    assert (copy.max_concurrent_runs, copy.shutdown_policy) == (7, "wait")
    assert (s.max_concurrent_runs, s.shutdown_policy) == (2, "cancel")  # the original is untouched
    assert copy.values() == {**s.values(), "max_concurrent_runs": 7, "shutdown_policy": "wait"}
    assert set(s.values()) == set(CONFIG_TRAITS)
    # List values are copied, not shared.
    copy.allowed_extensions.append(".sh")
    assert ".sh" not in s.allowed_extensions


def test_of_copies_every_trait(tmp_path: Path) -> None:
    source = SchedulerSettings(
        workspace_dir=str(tmp_path), timezone="Europe/Berlin", retention_max_runs_per_job=9, catchup="skip"
    )
    copy = SchedulerSettings.of(source, lock_poll_seconds=0.5)
    assert type(copy) is SchedulerSettings
    assert copy.values() == {**source.values(), "lock_poll_seconds": 0.5}


def test_invalid_values_are_refused() -> None:
    from traitlets import TraitError

    with pytest.raises(TraitError):
        SchedulerSettings(shutdown_policy="later")
    with pytest.raises(TraitError):
        SchedulerSettings(catchup="always")
    with pytest.raises(TraitError):
        SchedulerSettings(max_concurrent_runs="many")


def test_every_trait_is_configurable_and_documented() -> None:
    own = set(SchedulerSettings.class_traits()) - set(Configurable.class_traits())
    assert len(own) >= 20 and own == set(CONFIG_TRAITS)
    for name in sorted(own):
        trait = SchedulerSettings.class_traits()[name]
        assert trait.metadata.get("config") is True, f"{name} is not config=True"
        assert (trait.help or "").strip(), f"{name} has no help"


# --------------------------------------------------------------------------- the extension app
def test_extension_app_reads_the_settings_from_config(tmp_path: Path) -> None:
    c = Config()
    c.PipelineSchedulerApp.timezone = "Europe/Paris"
    c.PipelineSchedulerApp.max_concurrent_runs = 3
    c.PipelineSchedulerApp.shutdown_policy = "wait"
    c.PipelineSchedulerApp.allowed_extensions = [".py"]
    c.PipelineSchedulerApp.dbPath = str(tmp_path / "legacy.db")
    c.PipelineSchedulerApp.run_scheduler = False
    app = PipelineSchedulerApp(config=c)
    assert app.timezone == "Europe/Paris"
    assert app.max_concurrent_runs == 3
    assert app.shutdown_policy == "wait"
    assert app.allowed_extensions == [".py"]
    assert app.run_scheduler is False
    # The core gets a plain copy with the same values.
    core = SchedulerSettings.of(app, workspace_dir=str(tmp_path))
    assert type(core) is SchedulerSettings
    assert core.zone_name == "Europe/Paris" and core.concurrency == 3
    assert core.database_url == f"sqlite:///{(tmp_path / 'legacy.db').resolve()}"
    assert core.values() == {**{n: getattr(app, n) for n in CONFIG_TRAITS}, "workspace_dir": str(tmp_path)}


def test_extension_app_reads_the_command_line() -> None:
    app = PipelineSchedulerApp()
    app.update_config(Config({"PipelineSchedulerApp": {"misfire_grace_time": 5}}))
    assert app.misfire_grace_time == 5
    parsed = PipelineSchedulerApp()
    parsed.parse_command_line(["--PipelineSchedulerApp.max_concurrent_runs=4"])
    assert parsed.max_concurrent_runs == 4


def test_settings_are_defined_once() -> None:
    app_config_traits = set(PipelineSchedulerApp.class_trait_names(config=True))
    assert set(CONFIG_TRAITS) <= app_config_traits
    app_traits = PipelineSchedulerApp.class_traits()
    settings_traits = SchedulerSettings.class_traits()
    for name in CONFIG_TRAITS:
        # The very same trait object: inherited, not a second definition.
        assert app_traits[name] is settings_traits[name], name
    assert issubclass(PipelineSchedulerApp, SchedulerSettings)
    for name in CONFIG_TRAITS:
        assert name not in PipelineSchedulerApp.__dict__, f"{name} is redefined on the app"
