"""Subscription commands and queries.

Secrets are sealed at rest (``hookline.core.sealed``): a record is sealed just before
it is written, to the topic and the table alike, and a row is opened as it is read,
so every caller holds the clear values and nothing stored does.

A change is written to ``hookline.subscriptions`` (the log of record) first and to
the read model second, both while the subscription's row is locked, so that two
writers to one subscription are serialized: no two records with one version ever
reach the topic, and the change is readable as soon as the call returns. The
projector applies the same records from the topic with the same fold, which is
what rebuilds the read model.

It raises the errors of ``hookline.api.errors`` and, when PostgreSQL or Kafka is out
of reach, ``hookline.core.errors.Unavailable`` (``translated``): never an HTTP error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from hookline.api.errors import (
    InvalidChange,
    SecretsUnopenable,
    SubscriptionNotFound,
    VersionConflict,
)
from hookline.api.http.listing import PARAM, ListQuery
from hookline.api.http.validation import SubscriptionInput, format_problem
from hookline.core import db
from hookline.core.dialects import TRIPLETEX, formats_of, settle_format
from hookline.core.errors import translated
from hookline.core.keyring import Keyring, SecretsError
from hookline.core.messages import SubscriptionRecord
from hookline.core.sealed import needs_resealing, open_record, seal_record
from hookline.core.signing import generate_secret
from hookline.core.subscriptions import ACTIVE

log = logging.getLogger(__name__)

_COLUMNS = (
    "id, tenant_id, version, events, target_url, fields, format, status, auth_header_name,"
    " auth_header_value, secret, extract(epoch from created_at) AS created_at,"
    " extract(epoch from updated_at) AS updated_at, deleted, previous_secret,"
    " extract(epoch from previous_secret_expires_at) AS previous_secret_expires_at, dialect"
)

UPSERT = """
INSERT INTO subscriptions (id, tenant_id, version, events, target_url, fields, format, status,
    auth_header_name, auth_header_value, secret, created_at, updated_at, deleted,
    previous_secret, previous_secret_expires_at, dialect)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12), to_timestamp($13), $14,
    $15, to_timestamp($16), $17)
ON CONFLICT (id) DO UPDATE SET
    tenant_id = EXCLUDED.tenant_id, version = EXCLUDED.version, events = EXCLUDED.events,
    target_url = EXCLUDED.target_url, fields = EXCLUDED.fields, format = EXCLUDED.format,
    status = EXCLUDED.status, auth_header_name = EXCLUDED.auth_header_name,
    auth_header_value = EXCLUDED.auth_header_value, secret = EXCLUDED.secret,
    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, deleted = EXCLUDED.deleted,
    previous_secret = EXCLUDED.previous_secret,
    previous_secret_expires_at = EXCLUDED.previous_secret_expires_at, dialect = EXCLUDED.dialect
WHERE subscriptions.version < EXCLUDED.version
"""


def upsert_args(r: SubscriptionRecord) -> tuple[Any, ...]:
    return (
        r.id,
        r.tenant,
        r.version,
        r.events,
        r.target_url,
        r.fields,
        r.format,
        r.status,
        r.auth_header_name,
        r.auth_header_value,
        r.secret,
        r.created_at,
        r.updated_at,
        r.deleted,
        r.previous_secret,
        r.previous_secret_expires_at,
        r.dialect,
    )


def from_row(row: asyncpg.Record) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=row["id"],
        tenant=row["tenant_id"],
        version=row["version"],
        events=list(row["events"]),
        target_url=row["target_url"],
        status=row["status"],
        secret=row["secret"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        fields=row["fields"],
        format=row["format"],
        auth_header_name=row["auth_header_name"],
        auth_header_value=row["auth_header_value"],
        deleted=row["deleted"],
        previous_secret=row["previous_secret"],
        previous_secret_expires_at=_epoch_or_none(row["previous_secret_expires_at"]),
        dialect=row["dialect"],
    )


def _epoch_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


class SubscriptionStore:
    def __init__(
        self, pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, keyring: Keyring
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._topic = topic
        self.keyring = keyring

    async def create(self, tenant: int, data: SubscriptionInput) -> SubscriptionRecord:
        assert data.events is not None and data.target_url is not None
        # Milliseconds, what answers show: ids derived from the creation time (a
        # ShareActor ObjectId) then read the same from memory, the topic and the table.
        now = round(time.time(), 3)
        with translated():
            return await self._create(tenant, data, now)

    async def _create(self, tenant: int, data: SubscriptionInput, now: float) -> SubscriptionRecord:
        assert data.events is not None and data.target_url is not None
        async with self._pool.acquire() as conn:
            new_id = await conn.fetchval("SELECT nextval('subscription_ids')")
            record = SubscriptionRecord(
                id=new_id,
                tenant=tenant,
                version=0,
                events=data.events,
                target_url=data.target_url,
                status=ACTIVE,
                secret=generate_secret(),
                created_at=now,
                updated_at=now,
                fields=data.fields,
                format=data.format or formats_of(data.dialect or TRIPLETEX)[0],
                dialect=data.dialect or TRIPLETEX,
                auth_header_name=data.auth_header_name,
                auth_header_value=data.auth_header_value,
            )
            await self._write(conn, record)
        return record

    async def get(self, tenant: int, subscription_id: int) -> SubscriptionRecord:
        with translated():
            row = await self._pool.fetchrow(
                f"SELECT {_COLUMNS} FROM subscriptions"
                " WHERE id = $1 AND tenant_id = $2 AND NOT deleted",
                subscription_id,
                tenant,
            )
        if row is None:
            raise SubscriptionNotFound(subscription_id)
        return self.opened(row)

    async def update(
        self, tenant: int, subscription_id: int, data: SubscriptionInput
    ) -> SubscriptionRecord:
        with translated():
            async with self._pool.acquire() as conn, conn.transaction():
                current = await self._locked(conn, tenant, subscription_id)
                if data.version is not None and data.version != current.version:
                    raise VersionConflict(subscription_id, current.version, data.version)
                record = apply_input(current, data)
                if record.format not in formats_of(record.dialect):
                    raise InvalidChange("format", format_problem(record.dialect))
                await self._write(conn, record)
        return record

    async def change(
        self, tenant: int, subscription_id: int, *, if_version: int | None = None, **changes: Any
    ) -> SubscriptionRecord:
        """Any other change (status by Hookline itself, secret rotation, deletion).

        With ``if_version``, the change is made only if the subscription is still at that
        version (``VersionConflict`` otherwise): for changes decided on a copy read earlier."""
        with translated():
            async with self._pool.acquire() as conn, conn.transaction():
                current = await self._locked(conn, tenant, subscription_id)
                if if_version is not None and current.version != if_version:
                    raise VersionConflict(subscription_id, current.version, if_version)
                record = replace(
                    current, version=current.version + 1, updated_at=time.time(), **changes
                )
                await self._write(conn, record)
        return record

    async def delete(self, tenant: int, subscription_id: int) -> None:
        await self.change(tenant, subscription_id, deleted=True)

    async def reseal(self, subscription_id: int) -> bool:
        """Seal one subscription's secrets again under the current key, through the write
        path (a new version on the topic of record, then the row), unless they are under
        it already; deleted ones too, whose last record keeps them. Whether it wrote."""
        with translated():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    f"SELECT {_COLUMNS} FROM subscriptions WHERE id = $1 FOR UPDATE",
                    subscription_id,
                )
                if row is None or not needs_resealing(from_row(row), self.keyring):
                    return False
                current = self.opened(row)
                # updated_at stays: the subscription did not change, only how it is stored.
                await self._write(conn, replace(current, version=current.version + 1))
        return True

    async def stored(self, after: int, count: int) -> list[SubscriptionRecord]:
        """Up to ``count`` subscriptions with an id above ``after``, deleted ones too, in
        id order and as stored (sealed): for ``hookline secrets``."""
        with translated():
            rows = await self._pool.fetch(
                f"SELECT {_COLUMNS} FROM subscriptions WHERE id > $1 ORDER BY id LIMIT $2",
                after,
                count,
            )
        return [from_row(r) for r in rows]

    async def _locked(
        self, conn: db.Connection, tenant: int, subscription_id: int
    ) -> SubscriptionRecord:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM subscriptions"
            " WHERE id = $1 AND tenant_id = $2 AND NOT deleted FOR UPDATE",
            subscription_id,
            tenant,
        )
        if row is None:
            raise SubscriptionNotFound(subscription_id)
        return self.opened(row)

    def opened(self, row: asyncpg.Record) -> SubscriptionRecord:
        """A row as the record it stores, its secrets in clear; 503 when they do not open
        (their key was taken out of HOOKLINE_SECRETS_KEYS too early: put it back)."""
        record = from_row(row)
        try:
            return open_record(record, self.keyring)
        except SecretsError as exc:
            log.error("subscription %s: %s", record.id, exc)
            raise SecretsUnopenable(record.id) from exc

    async def _write(self, conn: db.Connection, record: SubscriptionRecord) -> None:
        """Seal, then to the topic of record, then to the read model (row locked)."""
        stored = seal_record(record, self.keyring)
        await self._producer.send_and_wait(self._topic, stored.encode(), key=stored.key())
        await conn.execute(UPSERT, *upsert_args(stored))

    async def _list(self, tenant: int, query: ListQuery) -> tuple[int, list[SubscriptionRecord]]:
        args: list[Any] = [tenant]
        clauses = ["tenant_id = $1", "NOT deleted"]
        for condition in query.conditions:
            args.append(condition.value)
            clauses.append(condition.sql.replace(PARAM, f"${len(args)}"))
        where = " AND ".join(clauses)
        n = len(args)
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS}, count(*) OVER () AS total FROM subscriptions WHERE {where}"
            f" ORDER BY {query.order} OFFSET ${n + 1} LIMIT ${n + 2}",
            *args,
            query.offset,
            query.count,
        )
        if rows:
            total = rows[0]["total"]
        elif query.offset == 0 and query.count > 0:
            total = 0
        else:  # past the end, or count=0: no row carries the total, so count them
            total = await self._pool.fetchval(
                f"SELECT count(*) FROM subscriptions WHERE {where}", *args
            )
        return int(total), [self.opened(r) for r in rows]

    async def list(self, tenant: int, query: ListQuery) -> tuple[int, list[SubscriptionRecord]]:
        """One page of a tenant's live subscriptions and how many match in all.

        ``query`` holds SQL built only from constants (see ``hookline.api.http.listing``);
        the client's values are bind parameters.
        """
        with translated():
            return await self._list(tenant, query)


def apply_input(current: SubscriptionRecord, data: SubscriptionInput) -> SubscriptionRecord:
    """The record after an update: given fields change, the rest stays; version + 1."""
    changes: dict[str, Any] = {"version": current.version + 1, "updated_at": time.time()}
    if data.events is not None:
        changes["events"] = data.events
    if data.target_url is not None:
        changes["target_url"] = data.target_url
    if data.fields_given:
        changes["fields"] = data.fields
    if data.format is not None:
        changes["format"] = data.format
    if data.dialect is not None:
        changes["dialect"] = data.dialect
        changes["format"] = settle_format(data.dialect, data.format, current.format)
    if data.auth_given:
        changes["auth_header_name"] = data.auth_header_name
        changes["auth_header_value"] = data.auth_header_value
    if data.status is not None:
        changes["status"] = data.status
    return replace(current, **changes)
