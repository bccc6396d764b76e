"""Events published one per request, as real producers send them.

    POST /v2/event/publish   {"event": ..., "eventId": ..., "id": ..., "value": ...}

Two shapes: ``concurrent`` (C clients, each with one keep-alive connection, each
sending its next event as soon as the last was answered) and ``at_rate`` (events
sent on a fixed schedule, R a second, over as many connections as are busy at
once). The client is a few lines on asyncio streams, with every request encoded
before the clock starts: aiohttp's client costs ~250 µs of CPU a request, which at
thousands a second would take a core from the services under test.

Each event's publish time is the moment its request was written (``concurrent``),
or the moment it was due (``at_rate``: a late send counts against the latency);
its 202 time is when the answer was read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

MAX_CONNECTIONS = 512  # at_rate: open at most this many at once


class PublishFailed(RuntimeError):
    """The API answered something other than 202."""


@dataclass
class Timings:
    published: dict[int, float] = field(default_factory=dict)  # object id -> sent (or due)
    accepted: dict[int, float] = field(default_factory=dict)  # object id -> 202 read


def request_bytes(host: str, path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def status_and_length(head: bytes) -> tuple[int, int]:
    """Pure: the status and Content-Length of a response head (up to the blank line)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise PublishFailed("the API answered chunked; this client reads Content-Length")
    return status, length


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def call(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, length = status_and_length(head)
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


@dataclass
class Target:
    api_url: str

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.api_url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    def encode(self, token: str, item: dict[str, object]) -> bytes:
        host, port = self.address
        return request_bytes(f"{host}:{port}", "/v2/event/publish", token, orjson.dumps(item))


Requests = list[tuple[int, bytes]]  # (object id, the whole request) in send order


def _check(obj: int, status: int, body: bytes) -> None:
    if status != 202:
        raise PublishFailed(f"event {obj}: publish answered {status}: {body[:300]!r}")


async def concurrent(target: Target, requests: Requests, clients: int) -> Timings:
    """``clients`` connections, each sending its next request when the last is answered."""
    timings = Timings()
    feed: Iterator[tuple[int, bytes]] = iter(requests)

    async def client() -> None:
        conn = await Connection.open(*target.address)
        try:
            for obj, raw in feed:
                timings.published[obj] = time.time()
                status, body = await conn.call(raw)
                timings.accepted[obj] = time.time()
                _check(obj, status, body)
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return timings


async def at_rate(target: Target, requests: Requests, rate: float) -> Timings:
    """Request n is due at ``n / rate`` s after the start; each goes on an idle
    connection (a new one if none is idle)."""
    timings = Timings()
    idle: list[Connection] = []
    opened: list[Connection] = []
    room = asyncio.Semaphore(MAX_CONNECTIONS)
    failures: list[Exception] = []  # raised once the schedule is done

    async def send(obj: int, raw: bytes) -> None:
        try:
            conn = idle.pop() if idle else None
            try:
                if conn is None:
                    conn = await Connection.open(*target.address)
                    opened.append(conn)
                status, body = await conn.call(raw)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The API closed an idle keep-alive connection: once more on a new one
                # (the same eventId, so a copy the API did take is routed once).
                conn = await Connection.open(*target.address)
                opened.append(conn)
                status, body = await conn.call(raw)
            timings.accepted[obj] = time.time()
            idle.append(conn)
            _check(obj, status, body)
        except (OSError, asyncio.IncompleteReadError, PublishFailed, ValueError) as exc:
            failures.append(exc)
        finally:
            room.release()

    tasks: set[asyncio.Task[None]] = set()
    start_wall, start = time.time(), time.monotonic()
    try:
        for n, (obj, raw) in enumerate(requests):
            due = n / rate
            ahead = due - (time.monotonic() - start)
            if ahead > 0.0005:
                await asyncio.sleep(ahead)
            await room.acquire()
            timings.published[obj] = start_wall + due
            task = asyncio.create_task(send(obj, raw))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if failures:
                break
        await asyncio.gather(*tasks)
    finally:
        for conn in opened:
            conn.close()
    if failures:
        raise PublishFailed(str(failures[0])) from failures[0]
    return timings
