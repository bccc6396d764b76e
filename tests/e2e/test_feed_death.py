"""A feed whose task dies ends its process with 70, so that its supervisor restarts it
(``hookline.core.feed``): a real deliverer, on the real broker, on topics of its own.

What kills the feed is the one fault no record can be blamed for, memory running out
(``failure.classify``: fatal, neither retried nor quarantined), raised by the child for
one marked subscription record: a stand-in, as the test cannot exhaust memory at a
chosen moment. The rest is the process's own path: the feed's task ends, ``on_death``
logs and exits. Started again without the fault, as a supervisor would, the same
deliverer quarantines the record and is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request

from aiokafka.errors import KafkaError
from bench.stack import drop_topics

from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.feed import EXIT_FEED_DIED
from support.stack import ROOT, Service, Stack, free_port

MARKER = b"feed-death-marker"
FAULTY = f"""
import sys
from hookline.core.feed import SubscriptionFeed
from hookline.deliverer.__main__ import main

applied = SubscriptionFeed._apply

def _apply(self, raw):
    if raw is not None and {MARKER!r} in raw:
        raise MemoryError("the test's stand-in for memory running out")
    applied(self, raw)

SubscriptionFeed._apply = _apply
main()
"""


def _start_faulty(service: Service) -> None:
    """``service`` (the deliverer) started with the fault of ``FAULTY`` in its feed."""
    with service.log.open("ab") as out:
        service.proc = subprocess.Popen(
            [sys.executable, "-c", FAULTY], env=service.env, stdout=out, stderr=out, cwd=ROOT
        )


def _ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as rsp:
            return int(rsp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


async def _eventually_ready(service: Service, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert service.proc is not None and service.proc.poll() is None, service.log.read_text()
        if await asyncio.to_thread(_ready, service.port) == 200:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not ready in {timeout_s}s:\n{service.log.read_text()[-3000:]}")


async def _write_marked_subscription(env: dict[str, str]) -> None:
    producer = kafka.producer(Settings.from_env(env))
    await producer.start()
    try:
        topic = f"{env['HOOKLINE_TOPIC_PREFIX']}.subscriptions"
        await producer.send_and_wait(topic, b'{"' + MARKER + b'": 1}', key=MARKER)
    finally:
        await producer.stop()


async def test_a_dead_feed_ends_the_deliverer_with_70_and_a_restart_comes_back(
    stack: Stack,
) -> None:
    prefix = f"hltest-feed-{secrets.token_hex(3)}"
    env = {**stack.env, "HOOKLINE_TOPIC_PREFIX": prefix, "HOOKLINE_HTTP_PORT": str(free_port())}
    log = ROOT / ".local" / "test-logs" / prefix / "deliverer.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    deliverer = Service("deliverer", env, log)
    try:
        _start_faulty(deliverer)
        await _eventually_ready(deliverer)
        await _write_marked_subscription(env)
        assert deliverer.proc is not None
        code = await asyncio.to_thread(deliverer.proc.wait, 60)
        assert code == EXIT_FEED_DIED, log.read_text()[-3000:]
        assert "subscription-feed stopped following its topic; exiting" in log.read_text()
        # Its supervisor starts it again; the record that raised is quarantined this time.
        deliverer.start()
        await _eventually_ready(deliverer)
        after = log.read_text().split("exiting")[-1]
        assert f"quarantined a record of {prefix}.subscriptions" in after, after[-3000:]
    finally:
        deliverer.kill()
        with contextlib.suppress(KafkaError, OSError):
            await drop_topics(env, prefix)
