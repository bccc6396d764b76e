"""CPU time per process over a run, from /proc: which process used the cores."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of ``pid`` so far; None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / TICK


def used_between(start: dict[int, float | None], end: dict[int, float | None]) -> float:
    """Pure: CPU seconds a group of processes used between two readings, counting only
    the processes alive at both (a postgres backend that ended during the run took its
    time with it: counting its 0 at the end made the group's figure negative)."""
    total = 0.0
    for pid, before in start.items():
        after = end.get(pid)
        if before is not None and after is not None and after >= before:
            total += after - before
    return total


class CpuMeter:
    """``groups`` names a set of processes each (several postgres backends are one)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = {name: pids for name, pids in groups.items() if pids}
        self._start = {name: self._read(pids) for name, pids in self.groups.items()}

    @staticmethod
    def _read(pids: list[int]) -> dict[int, float | None]:
        return {pid: cpu_seconds(pid) for pid in pids}

    def percent(self, wall_s: float) -> dict[str, float]:
        """Per group, CPU used since the meter started, as % of one core."""
        if wall_s <= 0:
            return {}
        return {
            name: round(used_between(self._start[name], self._read(pids)) / wall_s * 100, 1)
            for name, pids in self.groups.items()
        }


def kafka_pid(root: Path) -> int:
    """The broker's pid: from the pid file of this tree's stack, or else the process
    whose command line runs ``kafka.Kafka`` (a broker started from another tree)."""
    try:
        pid = int((root / ".local/run/kafka.pid").read_text())
    except (OSError, ValueError):
        pid = 0
    if pid and _runs_kafka(Path(f"/proc/{pid}")):  # a stale pid file names another process
        return pid
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and _runs_kafka(proc):
            return int(proc.name)
    return 0


def _runs_kafka(proc: Path) -> bool:
    try:
        return b"kafka.Kafka" in (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False


def postgres_pids() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "postgres":
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


# The load generator and the receiver stand for the producers and the customers:
# the platform's own cost is the rest. Kafka and PostgreSQL may be shared with other
# work on the machine (their CPU is then an upper bound): ``services`` is Hookline's
# own processes alone.
OUTSIDE = ("bench", "receiver")
INFRA = ("kafka", "postgres")


def per_delivery(percent: dict[str, float], wall_s: float, deliveries: int) -> dict[str, float]:
    """Pure: CPU µs per delivery over every process (``all``), over the platform's
    own (``hookline``: every process but the load generator and the receiver), over
    Hookline's services (``services``: without Kafka and PostgreSQL either), and per
    process group."""
    if deliveries <= 0 or wall_s <= 0:
        return {}

    def us(pct: float) -> float:
        return round(pct / 100 * wall_s / deliveries * 1e6, 1)

    found = {"all": us(sum(percent.values()))}
    found["hookline"] = us(sum(v for k, v in percent.items() if k not in OUTSIDE))
    found["services"] = us(sum(v for k, v in percent.items() if k not in OUTSIDE + INFRA))
    found.update({k: us(v) for k, v in percent.items()})
    return found
