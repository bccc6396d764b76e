"""``make bench``: Hookline end to end on the real broker and database, measured at the
receiver.

    python -m bench [--events N] [--subs K] [--fanout] [--clients C]
                    [--runs single,single-rate,lists,default,batch,rate]
                    [--single-rates 500,2000] [--rate 2000 --duration 20]
                    [--routers R] [--deliverers D | --scale 1,2,3] [--profile]

It starts its own api (its HTTP and worker roles as two processes, as ``make up``
does), router, deliverer(s) and retry scheduler on a fresh topic
prefix and database (Kafka and PostgreSQL are reused or started by
``deploy/local/stack.py infra``), a receiver on 127.0.0.1 in its own process, and
publishes the events. The realistic runs publish through the API one event per
request: ``single`` (C concurrent clients, as fast as they go) and ``single-rate``
(a fixed rate, each of ``--single-rates``); ``lists`` publishes through the API in
lists of 1,000. The bulk runs put the events straight into Kafka: ``default`` (the
default format, as fast as it goes), ``batch`` (``format: batch`` subscriptions;
``unsupported`` when the stack refuses or ignores them) and ``rate`` (a fixed rate).
It prints a table and the stage split, saves the figures with the machine's facts
under bench/results/, and prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

from bench import cpu, http1, load, profile
from bench.facts import machine_facts
from bench.stack import ROOT, BenchStack, free_port, infra_env
from bench.stages import Trace, stage_latencies
from bench.stats import Result, summarize, table
from hookline.core import topics
from hookline.core.config import Settings

RESULTS = ROOT / "bench" / "results"
DEFAULT_RUNS = "single,single-rate,lists,default,batch,rate"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=20_000, help="events per throughput run")
    p.add_argument("--subs", type=int, default=10, help="subscriptions (K)")
    p.add_argument("--fanout", action="store_true", help="every event to all K subscriptions")
    p.add_argument("--via", choices=("kafka", "http"), default="kafka", help="how to publish")
    p.add_argument(
        "--feed",
        choices=("events", "deliveries"),
        default="events",
        help="deliveries: skip the router, feed the deliverers straight (with --via kafka)",
    )
    p.add_argument("--runs", default=DEFAULT_RUNS, help="which runs, comma-separated")
    p.add_argument("--clients", type=int, default=64, help="concurrent publishers (single)")
    p.add_argument("--single-rates", default="500,2000", help="events/s of the single-rate runs")
    p.add_argument("--rate", type=float, default=2000.0, help="events/s of the bulk rate run")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of each rate run")
    p.add_argument("--deliverers", type=int, default=1, help="deliverer processes")
    p.add_argument("--routers", type=int, default=1, help="router workers (one Faust group)")
    p.add_argument("--scale", default="", help="e.g. 1,2,3: a default run per deliverer count")
    p.add_argument("--endpoints", type=int, default=0, help="receiver ports (default: K)")
    p.add_argument("--partitions", type=int, default=6, help="partitions per topic")
    p.add_argument(
        "--profile", action="store_true", help="py-spy the api (both roles), router and a deliverer"
    )
    p.add_argument("--idle-timeout", type=float, default=30.0, help="give up after this quiet")
    p.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for the services (repeatable)"
    )
    p.add_argument("--tag", default="", help="a word for the results file name")
    return p.parse_args(argv)


@dataclass(frozen=True)
class Publish:
    """How a run's events go in: ``kafka`` (straight to the topic), ``lists`` (through
    the API, 1,000 a request) or ``single`` (through the API, one a request)."""

    via: str
    rate: float | None  # events/s, or None: as fast as it goes
    fmt: str = "default"


def first_receipts(records: list[list[Any]]) -> dict[str, float]:
    """Pure: each webhook-id's first arrival at the receiver."""
    first: dict[str, float] = {}
    for at, webhook_id, *_ in records:
        if webhook_id not in first or at < first[webhook_id]:
            first[webhook_id] = float(at)
    return first


@dataclass
class Bench:
    args: argparse.Namespace
    stack: BenchStack
    http: aiohttp.ClientSession
    receiver_urls: list[str]
    receiver_pid: int
    next_path: int = 0
    next_obj: int = 1

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.stack.env)

    async def wait_routable(self, count: int, timeout_s: float = 30) -> None:
        """New subscriptions reach the router through its feed: wait until it holds them
        (and, with several router workers, until their group has shared the partitions
        out, so that a run does not start with a rebalance)."""
        ports = [p.port for n, p in self.stack.procs.items() if n.startswith("router")]
        deadline = time.monotonic() + timeout_s
        held: list[int] = []
        owned: list[int] = []
        while time.monotonic() < deadline:
            held, owned = [], []
            for port in ports:  # every router worker holds every subscription, and
                async with self.http.get(f"http://127.0.0.1:{port}/healthz") as rsp:
                    health = await rsp.json()  # together they own every partition
                held.append(int(health.get("subscriptions", 0)))
                owned.append(int(health.get("eventPartitions", 0)))
            if min(held) >= count and min(owned) > 0 and sum(owned) >= self.stack.partitions:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(
            f"the routers did not see {count} subscriptions and share out the events"
            f" partitions in {timeout_s}s (held {held}, partitions owned {owned})"
        )

    def meter(self) -> cpu.CpuMeter:
        groups = {
            "api": self.stack.pids("api"),
            "api_worker": self.stack.pids("api_worker"),
            "router": self.stack.pids("router"),
            "deliverers": self.stack.pids("deliverer"),
            "retry_scheduler": self.stack.pids("retry_scheduler"),
            "receiver": [self.receiver_pid],
            "bench": [__import__("os").getpid()],
            "kafka": [cpu.kafka_pid(ROOT)],
            "postgres": cpu.postgres_pids(),
        }
        return cpu.CpuMeter({k: [p for p in v if p] for k, v in groups.items()})

    async def run(
        self, name: str, fmt: str, events: int, *, via: str, rate: float | None = None
    ) -> Result:
        base = Result(name, events, self.args.subs, 0)
        try:
            plan = await load.make_plan(
                self.http,
                self.stack.api_url,
                self.stack.admin_token,
                self.receiver_urls,
                subs=self.args.subs,
                fanout=self.args.fanout,
                fmt=fmt,
                first_path=self.next_path,
            )
        except load.Unsupported as exc:
            base.note = f"unsupported: {exc}"[:200]
            return base
        first_path = self.next_path
        self.next_path += self.args.subs
        await self.wait_routable(self.next_path)
        objs = range(self.next_obj, self.next_obj + events)
        self.next_obj += events
        base.expected = events * (self.args.subs if self.args.fanout else 1)
        async with self.http.post(f"{self.receiver_urls[0]}/reset"):
            pass
        how = Publish(via, rate, fmt)
        return await self._measure(base, plan, objs, how, first_path=first_path)

    async def _publish(
        self, plan: load.Plan, objs: range, how: Publish
    ) -> tuple[dict[int, float], dict[int, float]]:
        """Send the run's events; their publish times and (through the API one at a
        time) their 202 times, by object id."""
        direct = self.args.feed == "deliveries"
        if how.via == "kafka":
            encoded = (load.encode_deliveries if direct else load.encode_events)(plan, objs)
            topic = (topics.deliveries if direct else topics.events)(self.settings)
            return await load.publish_kafka(self.settings, topic, encoded, how.rate), {}
        if how.via == "lists":
            return await load.publish_http(self.http, self.stack.api_url, plan, objs), {}
        target = http1.Target(self.stack.api_url)
        requests = load.encode_requests(target, plan, objs)
        if how.rate is None:
            timings = await http1.concurrent(target, requests, self.args.clients)
        else:
            timings = await http1.at_rate(target, requests, how.rate)
        return timings.published, timings.accepted

    async def _measure(
        self, result: Result, plan: load.Plan, objs: range, how: Publish, *, first_path: int
    ) -> Result:
        direct = self.args.feed == "deliveries" and how.via == "kafka"
        meter = self.meter()
        spy = self._profiler() if self.args.profile and how.rate is None else None
        started = time.monotonic()
        published, accepted = await self._publish(plan, objs, how)
        result.publish_seconds = time.monotonic() - started
        await load.wait_delivered(
            self.http, self.receiver_urls[0], result.expected, self.args.idle_timeout
        )
        wall = time.monotonic() - started
        if spy is not None:
            spy.stop()
            result.profile = spy.summaries()
        result.cpu_percent = meter.percent(wall)
        async with self.http.get(f"{self.receiver_urls[0]}/dump") as rsp:
            records = orjson.loads(await rsp.read())

        def expected(obj: int) -> list[int]:
            return [first_path + s for s in plan.expected_subs(obj)]

        summarize(result, records, published, expected)
        result.cpu_us_per_delivery = cpu.per_delivery(result.cpu_percent, wall, result.deliveries)
        if not direct:  # fed straight, the deliveries carry no router time
            trace = Trace(
                published={load.event_id_of(obj): at for obj, at in published.items()},
                accepted={load.event_id_of(obj): at for obj, at in accepted.items()},
                receipts=first_receipts(records),
            )
            result.stages = await stage_latencies(self.settings, trace, api=how.via != "kafka")
        if how.fmt == "batch" and result.requests and not result.batch_bodies:
            result.note = "unsupported: format batch is accepted but bodies arrive one by one"
        return result

    def _profiler(self) -> profile.Recorder:
        targets = {
            "api": self.stack.pids("api")[0],
            "api_worker": self.stack.pids("api_worker")[0],
            "router": self.stack.pids("router")[0],
            "deliverer": self.stack.pids("deliverer")[0],
        }
        out = RESULTS / "profiles"
        out.mkdir(parents=True, exist_ok=True)
        return profile.Recorder(out, targets)


def start_receiver(endpoints: int) -> tuple[subprocess.Popen[bytes], list[str]]:
    ports = [free_port() for _ in range(endpoints)]
    argv = [sys.executable, "-m", "bench.receiver", *map(str, ports)]
    proc = subprocess.Popen(argv, cwd=ROOT)
    return proc, [f"http://127.0.0.1:{port}" for port in ports]


async def wait_up(http: aiohttp.ClientSession, url: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            async with http.get(url):
                return
        except aiohttp.ClientError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def one_stack(args: argparse.Namespace, deliverers: int, runs: list[str]) -> list[Result]:
    """Start a stack and a receiver, do ``runs`` on it, stop both."""
    extra = dict(item.split("=", 1) for item in args.env)
    stack = BenchStack(
        deliverers=deliverers, routers=args.routers, partitions=args.partitions, extra_env=extra
    )
    receiver, receiver_urls = start_receiver(args.endpoints or args.subs)
    receiver_url = receiver_urls[0]
    results: list[Result] = []
    try:
        # Idle connections dropped before the API's 10 s header timeout drops them.
        connector = aiohttp.TCPConnector(keepalive_timeout=5)
        async with aiohttp.ClientSession(connector=connector) as http:
            await wait_up(http, f"{receiver_url}/stats")
            say(f"starting the services ({args.routers} router(s), {deliverers} deliverer(s))")
            await stack.start()
            bench = Bench(args, stack, http, receiver_urls, receiver.pid)
            for run in runs:
                say(f"run {run!r}")
                for result in await do_run(bench, run, deliverers):
                    results.append(result)
                    say(f"  {result.name}: {result.deliveries:,} in {result.seconds:.1f}s")
    finally:
        await stack.stop()
        receiver.terminate()
        receiver.wait()
    return results


async def do_run(bench: Bench, run: str, deliverers: int) -> list[Result]:
    args = bench.args
    suffix = f", {deliverers} deliverer(s)" if args.scale else ""
    bulk = "kafka" if args.via == "kafka" else "lists"
    if run == "single":
        name = f"single, {args.clients} clients{suffix}"
        return [await bench.run(name, "default", args.events, via="single")]
    if run == "single-rate":
        rates = [float(r) for r in args.single_rates.split(",") if r.strip()]
        return [
            await bench.run(
                f"single {r:g}/s{suffix}",
                "default",
                int(r * args.duration),
                via="single",
                rate=r,
            )
            for r in rates
        ]
    if run == "lists":
        return [await bench.run(f"lists of 1,000{suffix}", "default", args.events, via="lists")]
    if run == "default":
        return [await bench.run(f"default{suffix}", "default", args.events, via=bulk)]
    if run == "batch":
        return [await bench.run(f"batch{suffix}", "batch", args.events, via=bulk)]
    if run == "rate":
        events = int(args.rate * args.duration)
        name = f"rate {args.rate:g}/s{suffix}"
        return [await bench.run(name, "default", events, via="kafka", rate=args.rate)]
    raise SystemExit(f"unknown run {run!r}: use single, single-rate, lists, default, batch or rate")


def say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def save(args: argparse.Namespace, facts: dict[str, Any], results: list[Result]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    tag = f"-{args.tag}" if args.tag else ""
    path = RESULTS / f"{stamp}{tag}.json"
    doc = {"args": vars(args), "machine": facts, "results": [r.as_dict() for r in results]}
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def last_line(results: list[Result], path: Path) -> dict[str, Any]:
    """The first measured run's figures at the top, every run under ``runs``."""
    keys = (
        "events",
        "subscriptions",
        "deliveries",
        "seconds",
        "deliveries_per_s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "lost",
        "duplicates",
    )
    head = next((r for r in results if r.deliveries), results[0])
    line: dict[str, Any] = {k: head.as_dict()[k] for k in keys}
    line["run"] = head.name
    line["runs"] = [
        {"run": r.name, **{k: r.as_dict()[k] for k in keys}, "note": r.note} for r in results
    ]
    line["results_file"] = str(path.relative_to(ROOT))
    return line


# In the order a delivery meets them (bench/stages.py), then the 202 and the answer.
STAGES = ("api", "router", "deliverer", "accepted", "answered")


def print_report(results: list[Result]) -> None:
    print(table(results))
    for r in results:
        if r.note:
            print(f"note ({r.name}): {r.note}")
        if r.duplicate_examples:
            print(f"duplicates ({r.name}): " + "; ".join(r.duplicate_examples))
        for stage in [s for s in STAGES if s in r.stages]:
            pcts = r.stages.get(stage, {})
            shown = ", ".join(f"{k.removesuffix('_ms')} {v:.1f} ms" for k, v in pcts.items())
            print(f"stage ({r.name}): {stage}: {shown}")
        print(f"publish ({r.name}): {r.events:,} events in {r.publish_seconds:.1f}s")
        if r.stages.get("requeued"):
            print(f"requeued ({r.name}): {r.stages['requeued']:,} put off by the deliverer")
        if r.cpu_percent:
            used = ", ".join(f"{k} {v:.0f}%" for k, v in r.cpu_percent.items())
            print(f"cpu ({r.name}, % of one core): {used}")
            per = ", ".join(f"{k} {v:.0f}" for k, v in r.cpu_us_per_delivery.items())
            print(f"cpu ({r.name}, µs per delivery): {per}")
        for name, summary in r.profile.items():
            print(profile.report(f"{r.name}: {name}", summary))


async def main(argv: list[str]) -> int:
    args = parse_args(argv)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    results: list[Result] = []
    if args.scale:
        for count in [int(x) for x in args.scale.split(",")]:
            results += await one_stack(args, count, runs)
    else:
        results = await one_stack(args, args.deliverers, runs)
    facts = await machine_facts(infra_database_url())
    path = save(args, facts, results)
    print_report(results)
    print(f"results: {path.relative_to(ROOT)}")
    print(orjson.dumps(last_line(results, path)).decode())
    return 0 if all(r.lost == 0 for r in results) else 1


def infra_database_url() -> str:
    return infra_env()["HOOKLINE_DATABASE_URL"]


if __name__ == "__main__":
    sys.exit(uvloop.run(main(sys.argv[1:])))
