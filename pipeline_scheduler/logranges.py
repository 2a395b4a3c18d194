"""Which bytes of a run's log came from the pipeline's stderr.

The runner writes stdout and stderr into one ``output.log`` in the order they arrive. Beside
it, ``output.log.stderr`` holds one fixed-size record per stderr write: the byte offset in
the log where it starts and its length (two little-endian unsigned 64-bit integers). The
records are appended as chunks arrive, so they are sorted and never overlap; a reader finds
those of a window by bisection without loading the file (a pipeline that writes a line to
stderr at a time makes one record per line). A log without this file (older runs, other
backends) simply has no stderr ranges.

Blocking file work: call these from a file thread.
"""

from __future__ import annotations

import codecs
import os
import struct
from pathlib import Path

RECORD = struct.Struct("<QQ")  # offset, length


def ranges_path(log_path: str | Path) -> Path:
    path = Path(log_path)
    return path.with_name(path.name + ".stderr")


def pack(offset: int, length: int) -> bytes:
    return RECORD.pack(offset, length)


def read_ranges(log_path: str | Path | None, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """The stderr byte ranges ``[a, b)`` of the log that fall in ``[start, end)``, clipped to
    it and with touching ranges merged; at most ``limit + 1`` raw records are read (a caller
    that gets more than ``limit`` ranges shortens its window)."""
    if not log_path or end <= start:
        return []
    try:
        f = open(ranges_path(log_path), "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return []
    with f:
        count = os.fstat(f.fileno()).st_size // RECORD.size

        def record(i: int) -> tuple[int, int]:
            f.seek(i * RECORD.size)
            offset, length = RECORD.unpack(f.read(RECORD.size))
            return offset, length

        # First record that ends after ``start`` (ends are sorted as offsets are).
        low, high = 0, count
        while low < high:
            mid = (low + high) // 2
            offset, length = record(mid)
            if offset + length <= start:
                low = mid + 1
            else:
                high = mid
        found: list[tuple[int, int]] = []
        f.seek(low * RECORD.size)
        wanted = min(count - low, limit + 1)
        data = f.read(wanted * RECORD.size)
    for offset, length in RECORD.iter_unpack(data[: len(data) - len(data) % RECORD.size]):
        if offset >= end:
            break
        a, b = max(offset, start), min(offset + length, end)
        if b <= a:
            continue
        if found and found[-1][1] == a:
            found[-1] = (found[-1][0], b)
        else:
            found.append((a, b))
    return found


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def decode_with_ranges(data: bytes, base: int, ranges: list[tuple[int, int]]) -> tuple[str, list[list[int]]]:
    """``data`` (the log from byte ``base``) decoded as UTF-8 (bad bytes replaced), and the
    byte ``ranges`` (offsets in the log) as ``[start, end)`` indexes of that text counted in
    UTF-16 code units, i.e. JavaScript string indexes."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts: list[str] = []
    units = 0
    position = 0
    answer: list[list[int]] = []

    def advance(to: int) -> None:
        nonlocal units, position
        to = max(position, min(to, len(data)))
        text = decoder.decode(data[position:to])
        parts.append(text)
        units += _utf16_units(text)
        position = to

    for a, b in ranges:
        advance(a - base)
        begin = units
        advance(b - base)
        if units > begin:
            answer.append([begin, units])
    advance(len(data))
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts), answer
