"""The routes Amphi ETL's components panel calls: config, components-config,
components-file (original shapes, made safe)."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import SchedulerClient


async def test_config_names_the_workspace(api: SchedulerClient, workspace: Path) -> None:
    reply = await api.get("config")
    assert reply.status == 200, reply
    assert Path(reply.body["amphi_dir"]).resolve() == workspace.resolve()
    assert reply.body["timezone"] == "UTC"
    assert set(reply.body["allowed_extensions"]) == {".py", ".ampln", ".ipynb"}
    assert reply.body["scheduler_state"] == "active"


async def test_components_config_round_trip(api: SchedulerClient, workspace: Path) -> None:
    empty = await api.get("components-config")
    assert empty.status == 200 and empty.body == {"content": ""}, empty

    toml = '[components]\nenabled = ["csvFileInput", "filter"]\nlabel = "Équipe"\n'
    saved = await api.post("components-config", {"content": toml})
    assert saved.status == 200 and saved.body == {"success": True}, saved
    assert (workspace / ".amphi" / "config.toml").read_text(encoding="utf-8") == toml
    assert (await api.get("components-config")).body == {"content": toml}

    for bad in ({}, {"content": 12}, {"content": None}):
        reply = await api.post("components-config", bad)
        assert reply.status == 400, (bad, reply)
        assert "content" in reply.body["error"]
    assert (workspace / ".amphi" / "config.toml").read_text(encoding="utf-8") == toml

    huge = await api.post("components-config", {"content": "x" * (1024 * 1024 + 1)})
    assert huge.status == 413, huge
    assert (workspace / ".amphi" / "config.toml").read_text(encoding="utf-8") == toml


async def test_components_file_save_and_delete(api: SchedulerClient, workspace: Path) -> None:
    folder = workspace / ".amphi" / "components"
    saved = await api.post("components-file", {"filename": "my_component.json", "content": '{"a": 1}'})
    assert saved.status == 200, saved
    assert saved.body == {"success": True, "filename": "my_component.json"}
    assert (folder / "my_component.json").read_text() == '{"a": 1}'

    overwritten = await api.post("components-file", {"filename": "my_component.json", "content": "{}"})
    assert overwritten.status == 200, overwritten
    assert (folder / "my_component.json").read_text() == "{}"

    deleted = await api.delete("components-file", params={"filename": "my_component.json"})
    assert deleted.status == 200, deleted
    assert deleted.body == {"success": True, "filename": "my_component.json"}
    assert not (folder / "my_component.json").exists()

    missing = await api.delete("components-file", params={"filename": "my_component.json"})
    assert missing.status == 404, missing
    assert "my_component.json" in missing.body["error"]


@pytest.mark.parametrize("filename", ["../x", "a/b", "", "..", "/etc/passwd", "..\\x", ".hidden", 7, None])
async def test_components_file_refuses_anything_but_a_file_name(
    api: SchedulerClient, workspace: Path, filename: object
) -> None:
    outside = workspace.parent / "x"
    reply = await api.post("components-file", {"filename": filename, "content": "pwned"})
    assert reply.status == 400, reply
    assert "filename" in reply.body["error"]
    if isinstance(filename, str):
        gone = await api.delete("components-file", params={"filename": filename})
        assert gone.status == 400, gone
        assert "filename" in gone.body["error"]
    assert not outside.exists()
    folder = workspace / ".amphi" / "components"
    assert not folder.exists() or list(folder.iterdir()) == []


async def test_components_file_delete_without_a_name(api: SchedulerClient) -> None:
    reply = await api.delete("components-file")
    assert reply.status == 400, reply
    assert "filename" in reply.body["error"]


async def test_components_file_needs_text_content(api: SchedulerClient, workspace: Path) -> None:
    reply = await api.post("components-file", {"filename": "c.json"})
    assert reply.status == 400, reply
    assert "content" in reply.body["error"]
    assert not (workspace / ".amphi" / "components" / "c.json").exists()
