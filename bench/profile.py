"""py-spy on the router and the deliverer while a run goes on, and a summary of where
their CPU time went.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;... count``),
idle time (a loop waiting in epoll) left out, so the counts are CPU samples.
The summary groups each sample by its innermost frame's function and by the
library that frame lives in.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: make venv (it is in the dev dependency group)")
    return found


class Recorder:
    """One ``py-spy record`` per process; ``stop`` makes each write its file."""

    def __init__(self, out_dir: Path, targets: dict[str, int], rate: int = 100) -> None:
        self.files = {name: out_dir / f"profile-{name}.txt" for name in targets}
        self._procs = [
            subprocess.Popen(
                [
                    py_spy(),
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--rate",
                    str(rate),
                    "--nonblocking",
                    "--output",
                    str(self.files[name]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in targets.items()
        ]

    def stop(self) -> None:
        for proc in self._procs:
            proc.send_signal(signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def summaries(self) -> dict[str, dict[str, list[tuple[str, float]]]]:
        # py-spy writes its file as it exits; on a busy machine give it a moment more.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            p.exists() and p.stat().st_size for p in self.files.values()
        ):
            time.sleep(0.2)
        return {
            name: summarize(path.read_text() if path.exists() else "")
            for name, path in self.files.items()
        }


_HOOKLINE = {"core", "api", "router", "deliverer", "retry_scheduler"}


def library_of(path: str) -> str:
    """A short name for where a frame's code lives. py-spy shortens paths to what
    follows a sys.path entry: ``aiokafka/conn.py``, ``deliverer/worker.py``."""
    for marker in ("site-packages/", "/hookline/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    top = path.split("/", 1)[0].removesuffix(".py") if path else "?"
    return f"hookline.{top}" if top in _HOOKLINE else top


def parse_frame(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), "?"
    return match["func"], match["file"]


def summarize(raw: str, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Per innermost function and per library: % of CPU samples; plus inclusive %
    for functions of hookline, aiokafka, faust and aiohttp."""
    leaf: Counter[str] = Counter()
    libs: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [parse_frame(f) for f in stack.split(";")]
        func, file = frames[-1]
        total += count
        leaf[f"{func} ({library_of(file)})"] += count
        libs[library_of(file)] += count
        for name in {f"{fn} ({library_of(fl)})" for fn, fl in frames}:
            inclusive[name] += count
    if not total:
        return {"self": [], "library": [], "inclusive": []}

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(v / total * 100, 1)) for k, v in counter.most_common(top)]

    wanted = ("(hookline", "(aiokafka", "(faust", "(mode", "(aiohttp")
    inclusive = Counter({k: v for k, v in inclusive.items() if any(w in k for w in wanted)})
    return {"self": pct(leaf), "library": pct(libs), "inclusive": pct(inclusive)}


def report(name: str, summary: dict[str, list[tuple[str, float]]]) -> str:
    lines = [f"== {name}: where the CPU samples went =="]
    for title, key in (
        ("by library", "library"),
        ("by innermost function", "self"),
        ("inclusive (hookline and its libraries)", "inclusive"),
    ):
        lines.append(f"-- {title}")
        lines += [f"  {p:5.1f}%  {what}" for what, p in summary[key]]
    return "\n".join(lines)
