"""Faust's Kafka consumer, handing fetched records on without four tasks a record.

faust-streaming 0.15's ``Consumer._drain_messages`` gives each fetched record to the
conductor inside ``Service.wait_first(callback(message), suspend_flow.wait())``: four
tasks (the callback, ``suspend_flow``, ``stopped``, ``crashed``), an
``asyncio.wait`` and three cancellations per record, so that a rebalance
(``suspend_flow``) can abandon a hand-over blocked on a full stream buffer. That was
a tenth of the router's CPU (docs/benchmark.md). Nearly every hand-over finishes
without waiting (the buffer has room): here the callback runs inline up to its
first wait, and only a hand-over that has to wait is finished as a task raced
against ``suspend_flow`` the way Faust does it. Everything else is Faust's loop as
it is (``faust-streaming==0.15.3``, pinned in requirements.txt).

``take_ready`` is Faust's ``Stream.take_events`` without its timer: Faust's waits
``within`` seconds after every batch, busy or idle (a lone event waited up to 10 ms,
and every batch 10 ms after the one before); this one hands on what is buffered as
soon as the agent is free to take it, so batches are as large as what arrived while
the last one was routed: one event when idle, hundreds under pressure.

``ConsumerThread`` runs Faust's consumer thread on the app's loop, without a thread:
no ``MethodQueue`` trip and back for every fetch, commit and rebalance callback.

``Consumer.handed_over`` says up to where each partition's records were handed on,
from the consumer's own bookkeeping on the app's loop (no trip to the consumer's
thread, which ``Consumer.position`` makes per partition).

``ConsumerThread._fetch_records`` goes past a record aiokafka cannot read (a header
name that is not UTF-8, on ``hookline.events`` written straight to Kafka): it is
quarantined as a stub and the records around it are fetched one at a time
(``hookline.core.unreadable``), instead of the fetch failing for ever.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Mapping
from typing import Any, ClassVar, cast

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CorruptRecordException
from faust.transport.consumer import CONSUMER_FETCHING, RecordMap
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT, Message
from mode import Service, ServiceT

from hookline.core import unreadable

log = logging.getLogger(__name__)

YIELD_EVERY = 100  # records handed on between two trips through the loop, as Faust has it


async def hand_over(coro: Awaitable[Any], race: Any, suspended: asyncio.Event) -> None:
    """Run ``coro`` to its end, inline while it does not wait; if it has to, finish it
    as ``race(task, suspended.wait())`` (Faust's ``wait_first``), which leaves it
    behind when the flow is suspended. Its exception, if it raises, is raised here."""
    if not isinstance(coro, Coroutine):  # not a coroutine: Faust's way
        await race(asyncio.ensure_future(coro), suspended.wait())
        return
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    task = asyncio.ensure_future(_resumed(coro, waiting))
    await race(task, suspended.wait())


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, Any], waiting: Any) -> Generator[Any, None, Any]:
    """``coro``, suspended on ``waiting`` (what its first ``send`` yielded), continued as
    if it had never stopped: the task driving this waits for ``waiting``, then resumes
    ``coro``; an exception thrown in (a cancellation) is thrown into ``coro``."""
    try:
        yield waiting
    except BaseException as exc:
        try:
            waiting = coro.throw(exc)
        except StopIteration as stop:
            return stop.value
        return (yield from _resumed(coro, waiting))
    return (yield from cast(Any, coro))


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer "thread", run on the app's own loop instead of a thread.

    faust-streaming 0.15.3 runs aiokafka's consumer on an event loop of its own, in a
    thread, and every fetch (``getmany``), ``position`` and commit crosses over through
    a ``MethodQueue`` and back (a future set from the other thread); the two threads
    also take turns on the GIL. That loop and its hops were ~18 % of the router's CPU
    (docs/benchmark.md). Here the thread's loop *is* the app's loop: ``start`` serves
    the service as a task, ``call_thread`` is a plain call, and the thread's shutdown
    leaves the app's other tasks alone (mode cancels every task of the thread's loop).

    And a commit that finds none of its partitions still assigned commits nothing
    instead of crashing the worker: faust-streaming 0.15.3 filters a commit's offsets
    down to the partitions held at that moment; when a rebalance has just taken them
    all, it hands aiokafka an empty mapping, which aiokafka refuses (``ValueError({})``),
    and Faust crashes the worker on any exception from a commit. Nothing is lost by
    committing nothing: the partitions' new owner starts from their last commit, and
    what was routed since is deduplicated (docs/delivery.md, "Duplicates").
    """

    def __init__(self, consumer: Any, *, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(consumer, loop=loop, thread_loop=loop, **kwargs)
        self._serving: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """mode's ``ServiceThread.start``, with ``_serve`` as a task where it starts a
        thread: returns once the consumer runs; raises what its start raised."""
        self._thread_started.set()
        self._thread_running = self.parent_loop.create_future()
        self._serving = asyncio.ensure_future(self._serve())
        try:
            await self._thread_running
        finally:
            self._thread_running = None

    async def call_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fun`` called here (as mode's method queue does: awaited if it is async)."""
        result = fun(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    async def _gather_remaining_tasks(self) -> None:
        """Nothing: every task of this "thread's" loop is the app's."""

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        assigned = self.assignment()
        if not any(tp in assigned for tp in offsets):
            return False  # every partition moved away: nothing of ours to commit
        committed: bool = await super()._commit(offsets)
        return committed

    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,  # noqa: ASYNC109 (Faust's signature)
        max_records: int | None = None,
    ) -> RecordMap:
        """Faust's fetch; one that fails on a record that cannot be decoded reads the
        partitions again past it (``hookline.core.unreadable.read_past``), the
        record quarantined by ``App.set_aside``."""
        try:
            fetched: RecordMap = await super()._fetch_records(
                consumer, active_partitions, timeout=timeout, max_records=max_records
            )
            return fetched
        except (UnicodeDecodeError, CorruptRecordException) as exc:
            set_aside = cast(App, self.app).set_aside
            if not unreadable.is_unreadable(exc) or set_aside is None:
                raise
            log.warning("router: a fetch failed on a record it cannot read (%s)", exc)
        partitions = active_partitions or self.assignment()  # none: all, as aiokafka has it
        most = max_records or consumer._max_poll_records
        return await self._read_past(consumer, partitions, most, set_aside)

    async def _read_past(
        self,
        consumer: AIOKafkaConsumer,
        partitions: set[TP],
        most: int,
        set_aside: unreadable.SetAside,
    ) -> RecordMap:
        # From Faust's read offset: a seek's (the next to read) or the last record handed
        # on (handed on again, a duplicate the router drops); never after a record that
        # was not handed on: the failed fetch dropped those it drained elsewhere.
        read = self.consumer._read_offset
        starts = {TopicPartition(tp.topic, tp.partition): read.get(tp) for tp in sorted(partitions)}
        return await unreadable.read_past(consumer, starts, most, set_aside, "router")


async def take_ready(stream: faust.Stream[Any], most: int) -> AsyncIterator[list[EventT[Any]]]:
    """The events buffered on ``stream``, at most ``most`` at a time, each list as soon
    as there is one and the caller asks for it: no timer (Faust's ``take_events``,
    0.15.3, but for the wait). Like Faust's, it acknowledges a list's events only
    when the caller asks for the next list (or stops), and takes no event meanwhile.
    """
    events: list[EventT[Any]] = []
    buffered = asyncio.Event()  # at least one event waits
    room = asyncio.Event()  # the list is below ``most`` again
    consuming: asyncio.Future[None] | None = None  # set while the caller has a list

    async def add(value: Any) -> Any:
        nonlocal consuming
        if consuming is not None:
            try:
                await consuming
            finally:
                consuming = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_ready found no current event")
        events.append(event)
        buffered.set()
        if len(events) >= most:
            room.clear()
            await stream.wait(room.wait())
        return value

    acks = stream.enable_acks
    stream.enable_acks = False  # acknowledged here, once the caller is done
    stream.add_processor(add)
    stream._enable_passive(cast(faust.ChannelT[Any], aiter(stream.channel)))
    # Faust's stream takes one event from its channel per trip through the loop: the
    # list waits as long as events already handed to the stream are still queued.
    queued = cast(Any, stream.channel).queue.empty
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(buffered.wait())
            for _ in range(most - len(events)):  # one event a trip, at most ``most``
                if queued():
                    break
                await asyncio.sleep(0)
            if not events:
                continue
            consuming = stream.loop.create_future()
            try:
                yield list(events)
            finally:
                taken = list(events)
                events.clear()
                buffered.clear()
                for event in taken:
                    await stream.ack(event)
                consuming.set_result(None)
                room.set()
    finally:
        stream.enable_acks = acks
        stream._processors.remove(add)


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with ``_drain_messages`` handing records on inline,
    and ``ConsumerThread`` as its thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handed: dict[TP, int] = {}

    def handed_over(self, topic: str) -> dict[TP, int]:
        """Per partition of ``topic``, the offset after the last record handed on: every
        record below it was published before this call. (Not Faust's ``_read_offset``:
        a seek sets that to the next offset to read, before it was fetched.)"""
        return {tp: offset for tp, offset in self._handed.items() if tp.topic == topic}

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover
        # Faust's loop (faust/transport/consumer.py, 0.15.3), but for ``hand_over``.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        acks_enabled_for = self.app.topics.acks_enabled_for
        suspended = self.suspend_flow
        race = self.wait_first
        handed = self._handed
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                records = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in records:
                        since_yield += 1
                        if since_yield > YIELD_EVERY:
                            await asyncio.sleep(0)
                            since_yield = 0
                        if await self._take(tp, message, acks_enabled_for, get_read_offset):
                            await hand_over(callback(message), race, suspended)
                            set_read_offset(tp, message.offset)
                            handed[tp] = message.offset + 1
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)

    async def _take(self, tp: TP, message: Message, acks_enabled_for: Any, read: Any) -> bool:
        """Faust's bookkeeping before a record is handed on: a gap in the offsets (the
        records a compaction or a transaction marker took) and the periodic commit.
        False for a record below the offset already read (Faust drops it)."""
        r_offset = read(tp)
        if r_offset is not None and message.offset < r_offset:
            return False
        if message.offset - (r_offset or 0) > 1 and r_offset and acks_enabled_for(message.topic):
            await self._add_gap(tp, r_offset + 1, message.offset)
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()
        return True


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[Consumer]] = Consumer


class App(faust.App):
    """The router's app: Faust's, with ``Consumer`` above as its consumer, and
    ``set_aside`` quarantining what its consumer cannot read (None: such a fetch
    fails, as Faust's does)."""

    set_aside: unreadable.SetAside | None = None

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)
