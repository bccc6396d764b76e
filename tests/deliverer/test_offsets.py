"""Tests for hookline.deliverer.offsets: which offsets may be committed while work is in flight."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.deliverer.offsets import OffsetTracker

FAST = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- examples ---------------------------------------------------------------------------


def test_empty_tracker_has_nothing_to_commit() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    assert tracker.committable() == {}
    assert tracker.in_flight() == 0
    assert tracker.in_flight("p") == 0


def test_commit_waits_for_the_lowest_unfinished_offset() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    for offset in (5, 6, 7):
        tracker.started("p", offset)
    tracker.finished("p", 6)
    tracker.finished("p", 7)
    assert tracker.committable() == {"p": 5}
    tracker.finished("p", 5)
    assert tracker.committable() == {"p": 8}
    assert tracker.in_flight("p") == 0


def test_in_flight_only_offset_zero_reports_nothing() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.started("p", 0)
    assert tracker.committable() == {}
    tracker.finished("p", 0)
    assert tracker.committable() == {"p": 1}


def test_committable_reports_only_partitions_that_moved() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.started("a", 0)
    tracker.started("b", 0)
    tracker.finished("a", 0)
    tracker.finished("b", 0)
    first = tracker.committable()
    assert first == {"a": 1, "b": 1}
    tracker.committed(first)
    assert tracker.committable() == {}
    tracker.started("a", 1)
    tracker.finished("a", 1)
    assert tracker.committable() == {"a": 2}


def test_uncommitted_offsets_are_reported_again() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.started("p", 3)
    tracker.finished("p", 3)
    assert tracker.committable() == {"p": 4}
    # The commit failed, so committed() was never called: report it again.
    assert tracker.committable() == {"p": 4}


def test_committed_never_moves_backwards_and_ignores_unknown_partitions() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.started("p", 0)
    tracker.finished("p", 0)
    tracker.committed({"p": 1, "unknown": 9})
    tracker.committed({"p": 0})  # an older, late acknowledgement
    assert tracker.committable() == {}
    assert tracker.in_flight("unknown") == 0


def test_forget_drops_a_partition() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.started("p", 4)
    tracker.started("q", 4)
    tracker.forget("p")
    tracker.forget("never-seen")
    assert tracker.in_flight() == 1
    assert "p" not in tracker.committable()
    # A partition assigned again starts from scratch.
    tracker.started("p", 10)
    tracker.finished("p", 10)
    assert tracker.committable()["p"] == 11


def test_a_late_finish_after_a_revoke_moves_no_later_owners_position() -> None:
    """A delivery of a revoked partition that ends after ``forget`` (it raised KeyError
    in the task) changes nothing, even once the partition is back and read again."""
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.finished("p", 0)  # never started: nothing happens
    tracker.started("p", 5)
    tracker.forget("p")
    tracker.started("p", 3)  # assigned back, read again from the committed 3
    tracker.finished("p", 5)  # the old delivery ends late
    assert tracker.committable() == {"p": 3}  # 3 in flight: nothing past it, 5 or not
    tracker.finished("p", 3)
    assert tracker.committable() == {"p": 4}


def test_in_flight_counts_per_partition_and_in_total() -> None:
    tracker: OffsetTracker[tuple[str, int]] = OffsetTracker()
    tracker.started(("t", 0), 1)
    tracker.started(("t", 0), 2)
    tracker.started(("t", 1), 1)
    assert tracker.in_flight(("t", 0)) == 2
    assert tracker.in_flight(("t", 1)) == 1
    assert tracker.in_flight() == 3


# --- model-based property --------------------------------------------------------------


@dataclass
class _Model:
    """What a partition should report, kept as simply as possible."""

    started: list[int] = field(default_factory=list)
    done: set[int] = field(default_factory=set)
    committed: int = -1

    def pending(self) -> list[int]:
        return [o for o in self.started if o not in self.done]

    def next_offset(self) -> int:
        pending = self.pending()
        if pending:
            return min(pending)
        return max(self.done) + 1 if self.done else 0


# One operation: ("start", partition, gap before the next offset) or
# ("finish", partition, index into that partition's pending offsets) or
# ("commit", partition, unused): commit what committable() reports for some partitions.
_OPS = st.lists(
    st.tuples(
        st.sampled_from(["start", "start", "finish", "commit"]),
        st.integers(min_value=0, max_value=2),
        st.integers(min_value=0, max_value=5),
    ),
    max_size=80,
)


@FAST
@given(ops=_OPS, first=st.integers(min_value=0, max_value=3))
def test_tracker_matches_a_simple_model(ops: list[tuple[str, int, int]], first: int) -> None:
    tracker: OffsetTracker[int] = OffsetTracker()
    models: dict[int, _Model] = {}
    next_start: dict[int, int] = {}
    for op, part, arg in ops:
        model = models.setdefault(part, _Model())
        if op == "start":
            offset = next_start.get(part, first) + arg  # offsets only go up, maybe with gaps
            next_start[part] = offset + 1
            tracker.started(part, offset)
            model.started.append(offset)
        elif op == "finish":
            pending = model.pending()
            if not pending:
                continue
            offset = pending[arg % len(pending)]
            tracker.finished(part, offset)
            model.done.add(offset)
        else:
            report = tracker.committable()
            chosen = {p: o for p, o in report.items() if p <= part}
            tracker.committed(chosen)
            for p, o in chosen.items():
                models[p].committed = max(models[p].committed, o)
        _check(tracker, models)

    # Finish everything: each partition may then commit exactly highest + 1.
    for part, model in models.items():
        for offset in model.pending():
            tracker.finished(part, offset)
            model.done.add(offset)
    report = tracker.committable()
    for part, model in models.items():
        if model.done and max(model.done) + 1 > model.committed:
            assert report[part] == max(model.started) + 1
        else:
            assert part not in report
    assert tracker.in_flight() == 0


def _check(tracker: OffsetTracker[int], models: dict[int, _Model]) -> None:
    report = tracker.committable()
    for part, model in models.items():
        pending = model.pending()
        assert tracker.in_flight(part) == len(pending)
        expected = model.next_offset()
        if expected > model.committed and expected > 0:
            assert report.get(part) == expected
        else:
            assert part not in report
        if part in report and pending:
            # Never past the lowest offset still in flight: a crash must redo it.
            assert report[part] <= min(pending)
    assert set(report) <= set(models)
    assert tracker.in_flight() == sum(len(m.pending()) for m in models.values())


def _step(
    tracker: OffsetTracker[str], state: dict[str, tuple[list[int], int]], name: str, finish: bool
) -> None:
    pending, nxt = state.get(name, ([], 0))
    if finish and pending:
        tracker.finished(name, pending.pop(0 if nxt % 2 else -1))
    else:
        tracker.started(name, nxt)
        pending.append(nxt)
        nxt += 1
    state[name] = (pending, nxt)


@FAST
@given(ops=st.lists(st.tuples(st.sampled_from("ab"), st.booleans(), st.booleans()), max_size=60))
def test_partitions_are_independent(ops: list[tuple[str, bool, bool]]) -> None:
    """Interleaving another partition's work and commits never changes what one reports."""
    alone: OffsetTracker[str] = OffsetTracker()
    alone_state: dict[str, tuple[list[int], int]] = {}
    shared: OffsetTracker[str] = OffsetTracker()
    shared_state: dict[str, tuple[list[int], int]] = {}
    for name, finish, commit_other in ops:
        _step(shared, shared_state, name, finish)
        if name == "a":
            _step(alone, alone_state, name, finish)
            assert shared.committable().get("a") == alone.committable().get("a")
            assert shared.in_flight("a") == alone.in_flight("a")
        elif commit_other:
            shared.committed({"b": shared.committable().get("b", 0)})
    assert shared.committable().get("a") == alone.committable().get("a")
