"""DependencyGraph as pure code: edges from trigger conditions, deletions, re-pointing,
cycle detection (self-loops, 2- and 3-cycles, diamonds, long chains) and a Hypothesis
property against an independent reachability search."""

from __future__ import annotations

from collections import deque
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_scheduler.domain import JobDefinition
from pipeline_scheduler.graph import DependencyGraph


def after(*upstream: str, on: str = "success") -> dict[str, Any]:
    """A trigger job's spec with one condition per upstream job."""
    return {
        "schedule_type": "trigger",
        "logical_operator": "OR",
        "trigger_conditions": [{"job_id": u, "on": on} for u in upstream],
    }


CRON = {"schedule_type": "cron", "cron_expression": "0 3 * * *"}


def job(job_id: str, spec: dict[str, Any]) -> JobDefinition:
    return JobDefinition(
        id=job_id,
        name=job_id,
        pipeline_path="ok.py",
        spec=spec,
        python_code=None,
        code_hash=None,
        paused=False,
        created_at=0.0,
        updated_at=0.0,
    )


def chain(graph: DependencyGraph, ids: list[str]) -> None:
    """ids[0] -> ids[1] -> ...: each job waits for the one before it."""
    for upstream, dependent in zip(ids, ids[1:], strict=False):
        graph.set_job(dependent, after(upstream))


# --------------------------------------------------------------------------- edges
def test_set_job_records_edges_both_ways() -> None:
    g = DependencyGraph()
    g.set_job("load", CRON)
    g.set_job("report", after("load", "extract"))
    assert g.dependents_of("load") == {"report"}
    assert g.dependents_of("extract") == {"report"}
    assert g.upstream_of("report") == {"load", "extract"}
    assert g.upstream_of("load") == set()
    assert g.dependents_of("report") == set()


def test_non_trigger_specs_have_no_edges_even_with_leftover_conditions() -> None:
    g = DependencyGraph()
    # A cron job whose spec still carries conditions (e.g. a stale field) is not a dependent.
    g.set_job("cron", {**CRON, "trigger_conditions": [{"job_id": "x", "on": "success"}]})
    assert g.upstream_of("cron") == set()
    assert g.dependents_of("x") == set()


def test_answers_are_copies() -> None:
    g = DependencyGraph()
    g.set_job("b", after("a"))
    g.dependents_of("a").add("intruder")
    g.upstream_of("b").add("intruder")
    assert g.dependents_of("a") == {"b"}
    assert g.upstream_of("b") == {"a"}


def test_rebuild_replaces_everything() -> None:
    g = DependencyGraph()
    g.set_job("old", after("gone"))
    g.rebuild([job("a", CRON), job("b", after("a")), job("c", after("a", "b"))])
    assert g.dependents_of("gone") == set()
    assert g.upstream_of("old") == set()
    assert g.dependents_of("a") == {"b", "c"}
    assert g.dependents_of("b") == {"c"}
    assert g.upstream_of("c") == {"a", "b"}


def test_repointing_conditions_removes_old_edges() -> None:
    g = DependencyGraph()
    g.set_job("d", after("a", "b"))
    g.set_job("d", after("c"))
    assert g.upstream_of("d") == {"c"}
    assert g.dependents_of("a") == set()
    assert g.dependents_of("b") == set()
    assert g.dependents_of("c") == {"d"}
    # Turning the trigger job into a cron job drops its edges altogether.
    g.set_job("d", CRON)
    assert g.upstream_of("d") == set()
    assert g.dependents_of("c") == set()


def test_repointing_keeps_other_dependents_of_the_old_upstream() -> None:
    g = DependencyGraph()
    g.set_job("d1", after("a"))
    g.set_job("d2", after("a"))
    g.set_job("d1", after("b"))
    assert g.dependents_of("a") == {"d2"}
    assert g.dependents_of("b") == {"d1"}


def test_deleting_a_dependent_removes_its_edges() -> None:
    g = DependencyGraph()
    g.set_job("d", after("a", "b"))
    g.set_job("other", after("a"))
    g.set_job("d", None)
    assert g.upstream_of("d") == set()
    assert g.dependents_of("a") == {"other"}
    assert g.dependents_of("b") == set()
    assert not g.would_cycle("a", {"d"})


def test_deleting_an_upstream_keeps_the_two_views_consistent() -> None:
    """Deleting a job that still has dependents (the service refuses it, but another
    server's graph can be stale) must leave dependents_of and upstream_of agreeing, as a
    rebuild from the surviving definitions would: the dependent's spec still names it.

    BUG (kept failing on purpose): set_job(id, None) drops ``_dependents[id]`` but leaves
    ``id`` in each dependent's ``_upstream`` set, so upstream_of("report") still says
    {"load"} while dependents_of("load") says set(); re-creating "load" with the same id
    then never triggers "report" until the next rebuild."""
    g = DependencyGraph()
    g.set_job("load", CRON)
    g.set_job("report", after("load"))
    g.set_job("load", None)
    g.set_job("load", CRON)  # re-created with the same id

    rebuilt = DependencyGraph()
    rebuilt.rebuild([job("load", CRON), job("report", after("load"))])
    assert g.upstream_of("report") == rebuilt.upstream_of("report") == {"load"}
    assert g.dependents_of("load") == rebuilt.dependents_of("load")


# --------------------------------------------------------------------------- cycles
def test_self_loop_is_a_cycle() -> None:
    g = DependencyGraph()
    assert g.would_cycle("a", {"a"})
    assert g.would_cycle("a", ["b", "a"])


def test_two_cycle() -> None:
    g = DependencyGraph()
    g.set_job("b", after("a"))  # a -> b
    assert g.would_cycle("a", {"b"})  # b -> a would close a -> b -> a
    assert not g.would_cycle("b", {"a"})  # the existing edge again: no cycle
    assert not g.would_cycle("c", {"a", "b"})


def test_three_cycle() -> None:
    g = DependencyGraph()
    chain(g, ["a", "b", "c"])  # a -> b -> c
    assert g.would_cycle("a", {"c"})
    assert g.would_cycle("a", {"x", "c"})
    assert not g.would_cycle("c", {"a"})  # a -> c as well: a shortcut, not a cycle
    assert not g.would_cycle("a", {"x"})


def test_diamond_is_not_a_cycle() -> None:
    g = DependencyGraph()
    g.set_job("b", after("a"))
    g.set_job("c", after("a"))
    g.set_job("d", after("b", "c"))  # a -> {b, c} -> d
    assert not g.would_cycle("d", {"b", "c"})
    assert not g.would_cycle("e", {"d", "a"})
    assert not g.would_cycle("d", {"a", "b", "c"})
    assert g.would_cycle("a", {"d"})
    assert g.would_cycle("b", {"d"})


def test_long_chain() -> None:
    g = DependencyGraph()
    ids = [f"j{i}" for i in range(2000)]
    chain(g, ids)
    assert g.would_cycle(ids[0], {ids[-1]})
    assert g.would_cycle(ids[1000], {ids[-1]})
    assert not g.would_cycle(ids[-1], {ids[0]})
    assert not g.would_cycle("outsider", {ids[-1]})
    assert g.upstream_of(ids[-1]) == {ids[-2]}


def test_would_cycle_reads_current_edges_after_repointing() -> None:
    g = DependencyGraph()
    chain(g, ["a", "b", "c"])
    assert g.would_cycle("a", {"c"})
    g.set_job("b", CRON)  # b no longer waits for a
    assert not g.would_cycle("a", {"c"})
    g.set_job("c", None)
    assert not g.would_cycle("b", {"c"})


# --------------------------------------------------------------------------- property
NODES = [f"n{i}" for i in range(8)]


def reachable(edges: set[tuple[str, str]], start: str, goal: str) -> bool:
    """Whether ``goal`` is reached from ``start`` following upstream -> dependent edges."""
    out: dict[str, set[str]] = {}
    for up, down in edges:
        out.setdefault(up, set()).add(down)
    seen, queue = {start}, deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            return True
        for nxt in out.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return False


@st.composite
def dag_edges(draw: st.DrawFn) -> set[tuple[str, str]]:
    """Edges i -> j with i < j over a random order of the nodes: always acyclic."""
    order = draw(st.permutations(NODES))
    pairs = [(order[i], order[j]) for i in range(len(order)) for j in range(i + 1, len(order))]
    return set(draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))))


@settings(max_examples=300, deadline=None)
@given(edges=dag_edges(), a=st.sampled_from(NODES), b=st.sampled_from(NODES))
def test_would_cycle_is_reachability(edges: set[tuple[str, str]], a: str, b: str) -> None:
    g = DependencyGraph()
    upstream: dict[str, set[str]] = {}
    for up, down in edges:
        upstream.setdefault(down, set()).add(up)
    for down, ups in upstream.items():
        g.set_job(down, after(*sorted(ups)))
    # Giving a a condition on b adds b -> a: a cycle exactly when a already reaches b.
    assert g.would_cycle(a, {b}) == reachable(edges, a, b)
    # Both views of the edges agree with the edge set.
    for node in NODES:
        assert g.upstream_of(node) == {u for u, d in edges if d == node}
        assert g.dependents_of(node) == {d for u, d in edges if u == node}
