"""What the CLI prints: rich tables for people, the API's JSON objects for scripts
(``--json``), and errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def _console(stream: Any) -> Console:
    # Not a terminal (a pipe, a file): wide lines rather than wrapped table cells.
    width = None if stream.isatty() else 200
    return Console(file=stream, width=width, soft_wrap=False, highlight=False)


class Output:
    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.out = _console(sys.stdout)
        self.err = _console(sys.stderr)

    def json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def line(self, text: str = "") -> None:
        self.out.print(Text(text))

    def markup(self, text: str) -> None:
        self.out.print(text)

    def note(self, text: str) -> None:
        """A message for people that must not mix with a script's stdout."""
        self.err.print(Text(text))

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
        table = Table(title=title, show_lines=False, header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
        self.out.print(table)

    def fields(self, pairs: Iterable[tuple[str, Any]], title: str | None = None) -> None:
        table = Table(title=title, show_header=False, box=None, padding=(0, 2, 0, 0))
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in pairs:
            if isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False)
            table.add_row(Text(key), Text("" if value is None else str(value)))
        self.out.print(table)


def error(message: str, fields: dict[str, Any] | None = None) -> None:
    stream = sys.stderr
    stream.write(f"error: {message}\n")
    for name, problem in (fields or {}).items():
        stream.write(f"  {name}: {problem}\n")
    stream.flush()


def when(iso: str | None) -> str:
    """An instant as the server gave it, shortened for a table (its own offset kept)."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.strftime("%z")
    return f"{text} {offset[:3]}:{offset[3:]}" if offset else text


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
