"""What every service's ``__main__`` shares: logging, uvloop, a health server, signals.

The health server answers ``/healthz`` (the process is alive), ``/readyz`` (every
readiness check passes: connected and caught up) and ``/metrics`` (Prometheus).
``LagTracker`` keeps ``hookline_consumer_lag`` up to date for a consumer group and
doubles as the "connected to Kafka" check. Logs are one JSON object per line, and
``RedactingFilter`` removes secrets from them before they are written.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import logging
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

import orjson
import uvloop
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from hookline.core import kafka, kafka_access, metrics
from hookline.core.config import SettingError, Settings
from hookline.core.errors import KafkaRefused
from hookline.core.failure import every
from hookline.core.kafka_auth import AUTHORIZATION_ERRORS, explain
from hookline.core.keyring import Keyring

log = logging.getLogger(__name__)

MASK = "****"

# --- logs ------------------------------------------------------------------------------

# Names whose values are secret wherever they appear: in ``extra={"ctx": ...}``, as
# ``key=value`` / ``"key": "value"`` inside a message, and as a URL's query parameters
# (``?access_token=``, ``&api-key=``, ``X-Amz-Signature=``). A name is secret when it
# is one of these words, or ends in one after a prefix (``access_token``,
# ``clientSecret``, ``x-api-key``): a few harmless names (``monkey=``) are masked too.
SECRET_WORDS = (
    "authheadervalue|authorization|credentials?|passwd|password|pwd|secrets?"
    "|signature|sig|token|apikey|key|auth|session(?:id)?|jwt"
)
# Anchored at the start of a name and lazy over one character class, so a long
# line costs linear time (no nested quantifiers to backtrack through).
_SECRET_NAME = rf"(?<![\w.-])[\w.-]*?(?:{SECRET_WORDS})(?![\w.-])"
_SECRET_NAME_RE = re.compile(_SECRET_NAME, re.IGNORECASE)


# An exception's type as Python writes it, ``InvalidSecret: <message>`` (also after
# its module): what follows is a message, not a value. Only the types that say what is
# wrong (Invalid, Bad, ...) in CamelCase, so ``clientSecret: x`` and ``secret: x``
# are still masked.
_ERROR_TYPE = (
    r"(?-i:(?:\w+\.)*(?:Invalid|Bad|Expired|Missing|Unknown|Malformed|Wrong|Empty)[A-Z]\w*)"
    r":\s"
)


def is_secret_name(name: str) -> bool:
    """Pure: whether a field, parameter or header of this name holds a secret."""
    return _SECRET_NAME_RE.fullmatch(name) is not None


_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Credentials in an Authorization header value.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 " + MASK),
    # Standard Webhooks signing secrets and Hookline API keys, wherever they stand.
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_" + MASK),
    (re.compile(r"\bhl_[A-Za-z0-9_-]{6,}"), "hl_" + MASK),
    # The password of user:password@ in a URL, or a user name alone (sent as a token).
    (re.compile(r"(://[^/\s:@]*):[^/\s@]+@"), r"\1:" + MASK + "@"),
    (re.compile(r"://[^/\s:@]+@"), "://" + MASK + "@"),
    # "authHeaderValue": "x", token=x, 'secret': 'x', password: x, ?access_token=x (a
    # value masked already keeps the shape that says what it was: whsec_****)
    (
        re.compile(
            rf"""(?i)(["']?(?!{_ERROR_TYPE}){_SECRET_NAME}["']?\s*[:=]\s*)"""
            rf"""(?!(?:bearer|basic)\s|(?:whsec_|hl_)?\*{{4}})(["']?)[^"',\s}}&]+\2"""
        ),
        r"\1\2" + MASK + r"\2",
    ),
)


def redact(text: str, literals: Iterable[str] = ()) -> str:
    """Pure: ``text`` with every secret Hookline knows the shape of replaced by ****,
    and every one of ``literals`` (such as the admin token) too."""
    for secret in literals:
        if len(secret) >= 4:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, literals: Iterable[str] = ()) -> Any:
    """``redact`` through dicts, lists and strings; a secret key's value is masked whole."""
    found = tuple(literals)
    if isinstance(value, str):
        return redact(value, found)
    if isinstance(value, Mapping):
        return {
            k: MASK if v is not None and is_secret_name(str(k)) else redact_value(v, found)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v, found) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no handler after it sees a secret: the message
    (with its arguments merged in), the ``ctx`` ids, and the exception's text."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        super().__init__()
        self.literals = tuple(s for s in literals if s)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message, self.literals), None
        ctx = getattr(record, "ctx", None)
        if isinstance(ctx, Mapping):
            record.ctx = redact_value(ctx, self.literals)
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text, self.literals), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, self.literals)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={"ctx": {...}}`` adds ids such as the delivery's."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = getattr(record, "ctx", None)
        if isinstance(ctx, dict):
            entry.update(ctx)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["error"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


def setup_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """JSON lines on stdout, secrets removed (``secrets``: literal values to mask too)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingError as exc:
        print(f"hookline: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


# --- health and metrics ----------------------------------------------------------------

Check = Callable[[], bool | Awaitable[bool]]
CHECK_TIMEOUT_S = 2.0


async def run_checks(checks: Mapping[str, Check]) -> dict[str, bool]:
    """Each check's verdict; one that raises or takes longer than 2 s counts as failed."""
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            verdict = check()
            if inspect.isawaitable(verdict):
                verdict = await asyncio.wait_for(verdict, CHECK_TIMEOUT_S)
            results[name] = bool(verdict)
        except Exception:  # a readiness probe must answer, whatever the check did
            log.debug("readiness check %s failed", name, exc_info=True)
            results[name] = False
    return results


async def readiness_response(checks: Mapping[str, Check]) -> web.Response:
    results = await run_checks(checks)
    ok = all(results.values())
    return web.json_response({"ready": ok, "checks": results}, status=200 if ok else 503)


async def metrics_view(_: web.Request) -> web.Response:
    body, content_type = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


def health_app(ready: Check | Mapping[str, Check]) -> web.Application:
    """``/healthz``, ``/readyz`` and ``/metrics``. ``ready`` is one readiness callback or
    several by name (for example ``{"subscriptions": feed.alive, "kafka":
    lag.connected}``); each may be sync or async."""
    checks: Mapping[str, Check] = ready if isinstance(ready, Mapping) else {"ready": ready}

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        return await readiness_response(checks)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app


LagMeasure = Callable[[], Awaitable[Mapping[Any, int]]]


class LagTracker:
    """Keeps ``hookline_consumer_lag`` of ``group`` up to date: every ``every_s`` it
    calls ``measure()`` for the lag of each partition this process owns (keys with
    ``.topic`` and ``.partition``) and shows exactly those, so a group's lag is the sum
    over its processes. ``connected()`` is a readiness check: the last look succeeded.

    ``LagTracker.of(consumer, group)`` measures an aiokafka consumer (end offset minus
    committed offset); for a Faust app use ``position_lag``.
    """

    def __init__(self, group: str, measure: LagMeasure, every_s: float = 5.0) -> None:
        self.group = group
        self.every_s = every_s
        self.last_ok = 0.0
        self._measure = measure
        self._shown: set[tuple[str, str, str]] = set()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, client: AIOKafkaConsumer, group: str, every_s: float = 5.0) -> LagTracker:
        async def measure() -> Mapping[Any, int]:
            return await committed_lag(client)

        return cls(group, measure, every_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lag-{self.group}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._show({})

    def connected(self) -> bool:
        return time.monotonic() - self.last_ok < 3 * self.every_s

    async def measure(self) -> dict[Any, int]:
        """Look once, update the gauge, and return the lag by partition."""
        lag = dict(await self._measure())
        self._show(lag)
        self.last_ok = time.monotonic()
        return lag

    def _show(self, lag: Mapping[Any, int]) -> None:
        now = {(self.group, tp.topic, str(tp.partition)): n for tp, n in lag.items()}
        for labels in self._shown - now.keys():  # partitions that moved to another process
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(*labels)
        for labels, n in now.items():
            metrics.CONSUMER_LAG.labels(*labels).set(n)
        self._shown = set(now)

    async def _run(self) -> None:
        # AssertionError: aiokafka asserts on a consumer that is closing or between
        # generations; the next look will do.
        await every(
            self.every_s,
            self.measure,
            what=f"measuring the lag of {self.group}",
            survive=(KafkaError, OSError, AssertionError),
        )


async def committed_lag(client: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    """End offset minus the group's committed offset, on the partitions ``client`` owns."""
    owned = sorted(client.assignment())
    if not owned:
        return {}
    ends = await client.end_offsets(owned)
    committed = {tp: await client.committed(tp) for tp in owned}
    unread = [tp for tp, off in committed.items() if off is None]
    beginnings = await client.beginning_offsets(unread) if unread else {}
    return metrics.lag_by_partition(ends, committed, beginnings)


async def position_lag(consumer: Any, topics: Iterable[str]) -> dict[Any, int]:
    """For a Faust app's consumer (``app.consumer``): end offset minus read position on
    the partitions of ``topics`` it owns. Faust commits what it read within
    ``broker_commit_interval``, so the position stands for the committed offset."""
    wanted = set(topics)
    owned = [tp for tp in consumer.assignment() if tp.topic in wanted]
    if not owned:
        return {}
    ends = await consumer.highwaters(*owned)
    positions = {tp: await consumer.position(tp) for tp in owned}
    return metrics.lag_by_partition(ends, positions, {})


# --- running ---------------------------------------------------------------------------


# Long enough for a list query with many filters, so that the API's own error
# renderer answers it (aiohttp's parser would answer a plain-text 400 past 8 KiB).
MAX_LINE = 64 * 1024


async def serve(app: web.Application, settings: Settings) -> web.AppRunner:
    # aiohttp's keep-alive timer runs from a connection's start and from each answer
    # until the next request's headers are in, however slowly bytes trickle: so it is
    # the header timeout (a slowloris socket is closed then), and the idle timeout too.
    runner = web.AppRunner(
        app,
        access_log=None,
        max_line_size=MAX_LINE,
        max_field_size=MAX_LINE,
        keepalive_timeout=settings.http_header_timeout_s,
    )
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    return runner


def run(main: Callable[[Settings, asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(settings, stopping)`` on uvloop until SIGTERM or SIGINT sets ``stopping``."""
    settings = load_settings()
    setup_logging(settings.log_level, secrets=secret_values(settings))

    async def runner() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await main(settings, stopping)

    with refusal_ends_the_process(settings):
        uvloop.run(runner())


def secret_values(settings: Settings) -> list[str]:
    """The settings' secrets, masked in every log line wherever they appear."""
    keys = [base64.b64encode(key).decode() for _, key in settings.secrets_keys.keys]
    return [
        settings.admin_token,
        settings.kafka_sasl_password,
        settings.kafka_ssl_key_password,
        *keys,
        *(k.replace("+", "-").replace("/", "_") for k in keys),
    ]


def keyring_for(settings: Settings, service: str) -> Keyring:
    """The keys that seal and open subscription secrets; a service that needs them does
    not start without them (one line that says what to set)."""
    if not settings.secrets_keys.keys:
        raise SettingError(
            f"HOOKLINE_SECRETS_KEYS (or HOOKLINE_SECRETS_KEYS_FILE) is needed by the {service}:"
            " it seals subscription secrets at rest; `hookline secrets new-key k1` makes one"
            " (docs/operations.md, Sealing keys)"
        )
    return Keyring(settings.secrets_keys)


def check_kafka(settings: Settings, service: str, groups: list[str]) -> None:
    """Before a service whose clients start elsewhere (the router's Faust worker): fail
    at once, in one line, when the broker refuses these settings, (with
    ``HOOKLINE_CREATE_TOPICS=0``) a topic is missing, or an ACL the service needs on its
    topics or ``groups`` is missing; else the topics exist after it."""

    async def check() -> None:
        await kafka.ensure_topics(settings)
        await kafka_access.check(settings, service, groups=groups)

    loop = asyncio.new_event_loop()
    try:
        with refusal_ends_the_process(settings):
            loop.run_until_complete(check())
    finally:
        loop.close()


@contextlib.contextmanager
def refusal_ends_the_process(settings: Settings) -> Iterator[None]:
    """A refused connection, a bad TLS file or a missing ACL (a group the consumer may not
    join, found at its first poll): one line on stderr and exit 1, no traceback."""
    try:
        yield
    except (KafkaRefused, SettingError) as exc:
        _end(str(exc), exc)
    except AUTHORIZATION_ERRORS as exc:
        _end(f"Kafka at {settings.kafka_bootstrap} refused: {explain(exc, settings)}", exc)


def _end(line: str, exc: BaseException) -> None:
    log.error("%s", line)
    print(f"hookline: {line}", file=sys.stderr)
    raise SystemExit(1) from exc
