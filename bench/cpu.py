"""CPU time per process over a run, from /proc: which process used the cores."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` so far; 0.0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / TICK


class CpuMeter:
    """``groups`` names a set of processes each (several postgres backends are one)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = {name: pids for name, pids in groups.items() if pids}
        self._start = {name: self._used(pids) for name, pids in self.groups.items()}

    @staticmethod
    def _used(pids: list[int]) -> float:
        return sum(cpu_seconds(pid) for pid in pids)

    def percent(self, wall_s: float) -> dict[str, float]:
        """Per group, CPU used since the meter started, as % of one core."""
        if wall_s <= 0:
            return {}
        return {
            name: round((self._used(pids) - self._start[name]) / wall_s * 100, 1)
            for name, pids in self.groups.items()
        }


def kafka_pid(root: Path) -> int:
    """The broker's pid: from the pid file of this tree's stack, or else the process
    whose command line runs ``kafka.Kafka`` (a broker started from another tree)."""
    try:
        return int((root / ".local/run/kafka.pid").read_text())
    except (OSError, ValueError):
        pass
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kafka.Kafka" in argv:
                return int(proc.name)
    return 0


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
