"""The stderr ranges beside a log: found by bisection in a sidecar of fixed records, clipped
to a window, merged when they touch, turned into JavaScript string indexes, and a window
too finely interleaved answered shorter."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_scheduler import history, logranges


def _write(log: Path, parts: list[tuple[bytes, bool]]) -> bytes:
    """A log and its sidecar from (bytes, is_stderr) parts, as the runner writes them."""
    data = b""
    with open(logranges.ranges_path(log), "wb") as sidecar:
        for chunk, is_stderr in parts:
            if is_stderr:
                sidecar.write(logranges.pack(len(data), len(chunk)))
            data += chunk
    log.write_bytes(data)
    return data


def test_ranges_of_a_window_are_clipped_and_merged(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    _write(log, [(b"out\n", False), (b"err1", True), (b"err2\n", True), (b"out2\n", False), (b"e\n", True)])
    assert logranges.read_ranges(log, 0, 100, 10) == [(4, 13), (18, 20)]
    assert logranges.read_ranges(log, 6, 19, 10) == [(6, 13), (18, 19)]
    assert logranges.read_ranges(log, 13, 18, 10) == []
    assert logranges.read_ranges(tmp_path / "none.log", 0, 100, 10) == []


def test_bisection_over_many_records(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    parts = [(b"o" * 3, False) if i % 2 else (b"e" * 2, True) for i in range(40001)]
    _write(log, parts)
    # Record k covers [5k, 5k + 2): the window [50001, 50011) holds the end of record
    # 10000, all of 10001 and the start of 10002.
    assert logranges.read_ranges(log, 50001, 50011, 10) == [(50001, 50002), (50005, 50007), (50010, 50011)]


def test_indexes_count_utf16_units_and_decode_like_the_whole(tmp_path: Path) -> None:
    data = "a😀é\n".encode() + "err 😀\n".encode() + b"\xff\n"
    start = len("a😀é\n".encode())
    end = start + len("err 😀\n".encode())
    text, ranges = logranges.decode_with_ranges(data, 100, [(100 + start, 100 + end)])
    assert text == data.decode("utf-8", errors="replace")
    [[a, b]] = ranges
    units = text.encode("utf-16-le")
    assert units[2 * a : 2 * b].decode("utf-16-le") == "err 😀\n"


def test_a_window_with_too_many_ranges_is_answered_shorter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "output.log"
    _write(log, [(b"e", True) if i % 2 else (b"o", False) for i in range(100)])
    monkeypatch.setattr(history, "MAX_STDERR_RANGES", 10)
    data, size, ranges = history._read_window(str(log), 0, 1000)
    assert size == 100
    assert len(ranges) == 10
    assert len(data) == ranges[-1][1] + 1  # up to where the 11th range starts
    assert all(data[a:b] == b"e" * (b - a) for a, b in ranges)
