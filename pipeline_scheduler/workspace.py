"""Files in the workspace: resolving pipeline paths safely and hashing pipeline files."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from .errors import (
    ConflictError,
    FileNotFoundInWorkspaceError,
    InvalidRequestError,
    PathNotAllowedError,
    PayloadTooLargeError,
)
from .settings import DATA_DIR_NAME


def normalize_relative(path: object, field: str = "pipeline_path") -> PurePosixPath:
    """Check the text of a workspace-relative path without touching the disk."""
    if not isinstance(path, str) or not path.strip():
        raise PathNotAllowedError(
            f"{field}: required; give the pipeline's path relative to the workspace, e.g. 'etl/load.py'."
        )
    if "\x00" in path or len(path) > 1024:
        raise PathNotAllowedError(f"{field}: contains characters that are not allowed.")
    if "\\" in path or path.startswith(("/", "~")) or (len(path) > 1 and path[1] == ":"):
        raise PathNotAllowedError(
            f"{field}: {path!r} is an absolute path; give a path relative to the workspace."
        )
    rel = PurePosixPath(path.strip())
    if any(part == ".." for part in rel.parts):
        raise PathNotAllowedError(
            f"{field}: {path!r} leaves the workspace ('..'); only paths inside it are allowed."
        )
    parts = [p for p in rel.parts if p not in ("", ".")]
    if not parts:
        raise PathNotAllowedError(f"{field}: {path!r} names no file.")
    if parts[0] == DATA_DIR_NAME:
        raise PathNotAllowedError(
            f"{field}: files under '{DATA_DIR_NAME}/' belong to the scheduler and cannot be scheduled."
        )
    return PurePosixPath(*parts)


def resolve_pipeline(root: Path, path: object, allowed_extensions: Iterable[str]) -> tuple[str, Path]:
    """Answer (normalised relative path, absolute resolved file) or raise a clear error.

    Symlinks are followed and the target must still be inside the workspace.
    Blocking (touches the disk): call it from a thread.
    """
    rel = normalize_relative(path)
    allowed = tuple(e.lower() for e in allowed_extensions)
    if rel.suffix.lower() not in allowed:
        raise PathNotAllowedError(
            f"pipeline_path: {str(rel)!r} has an extension that cannot be scheduled; "
            f"allowed: {', '.join(allowed)}."
        )
    root_real = Path(os.path.realpath(root))
    target = Path(os.path.realpath(root_real / rel))
    if target != root_real and root_real not in target.parents:
        raise PathNotAllowedError(
            f"pipeline_path: {str(rel)!r} points outside the workspace (through a symbolic link)."
        )
    if not target.is_file():
        raise PathNotAllowedError(
            f"pipeline_path: {str(rel)!r} does not exist in the workspace; check the path (relative to the "
            "workspace folder)."
        )
    return rel.as_posix(), target


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class HashCache:
    """sha256 of files, recomputed only when size or mtime change."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[int, int, str]] = {}

    def get(self, path: Path) -> str | None:
        try:
            st = path.stat()
        except OSError:
            return None
        hit = self._cache.get(path)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        try:
            value = file_sha256(path)
        except OSError:
            return None
        self._cache[path] = (st.st_size, st.st_mtime_ns, value)
        return value


# -- Amphi ETL components panel files (.amphi/config.toml, .amphi/components/) ---------
_COMPONENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,127}")


def component_path(root: Path, filename: object) -> Path:
    """The file ``.amphi/components/<filename>``; only plain file names are accepted."""
    if not isinstance(filename, str) or not _COMPONENT_NAME.fullmatch(filename) or ".." in filename:
        raise InvalidRequestError(
            "filename: give a plain file name (letters, digits, '.', '_', '-', spaces; "
            "no folders), e.g. 'my_component.json'."
        )
    return root / DATA_DIR_NAME / "components" / filename


def check_text(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field}: required, as text.")
    if len(value.encode("utf-8", errors="replace")) > limit:
        raise PayloadTooLargeError(f"{field}: larger than the {limit:,} bytes allowed.")
    return value


def read_text(path: Path) -> str:
    """A workspace text file's content ('' when it does not exist). A file that exists but
    cannot be read as UTF-8 text is the workspace's state, not a server fault: 409."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        raise ConflictError(
            f"{path.name} is not UTF-8 text; fix or delete {DATA_DIR_NAME}/{path.name} in the workspace."
        ) from None
    except OSError as err:
        raise ConflictError(
            f"{path.name} cannot be read ({err.strerror or err}); check {DATA_DIR_NAME}/{path.name} "
            "in the workspace (a folder of that name, or its permissions)."
        ) from None


def write_text_atomic(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)


def delete_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        raise FileNotFoundInWorkspaceError(f"No component file named {path.name!r}.") from None


def resolve_working_dir(root: Path, path: object) -> str:
    """A folder inside the workspace for a job's working directory (blocking)."""
    rel = normalize_relative(path, "working_dir")
    root_real = Path(os.path.realpath(root))
    target = Path(os.path.realpath(root_real / rel))
    if target != root_real and root_real not in target.parents:
        raise PathNotAllowedError(f"working_dir: {str(rel)!r} points outside the workspace.")
    if not target.is_dir():
        raise PathNotAllowedError(f"working_dir: {str(rel)!r} is not a folder of the workspace.")
    return rel.as_posix()


def check_interpreter(path: object) -> str:
    """A Python interpreter for a job: an absolute path to an executable file (blocking)."""
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise InvalidRequestError("python_executable: give the absolute path of a Python interpreter.")
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        raise InvalidRequestError(
            f"python_executable: {path!r} is not an absolute path, e.g. '/opt/envs/etl/bin/python'."
        )
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise InvalidRequestError(f"python_executable: {path!r} is not an executable file.")
    return str(candidate)
