"""A measured figure and its budget, as the benchmarks report them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    value: str
    budget: str
    ok: bool | None  # None: not measured, or reported without a budget
