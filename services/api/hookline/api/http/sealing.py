"""``/v2/admin/secrets``: the keys that seal subscription secrets at rest (admin token).

- ``GET /v2/admin/secrets``: the key that seals, the ids that open, and how many stored
  secrets are under each id (``clear``: not sealed yet, written before sealing was).
  A key id that no stored secret is under any longer can be taken out of
  ``HOOKLINE_SECRETS_KEYS``.
- ``POST /v2/admin/secrets/rotate-key?after=&count=``: re-seals under the current key
  the subscriptions with an id above ``after`` (up to ``count``, in id order) whose
  secrets are in clear or under another key, each through the write path (a new
  version on ``hookline.subscriptions``, then the read model). Answers what it did
  and ``next``, the ``after`` of the next call (null when none is left). A
  subscription sealed under the current key already is left alone, so a call
  repeated after a crash or a second run does nothing twice.
  ``hookline secrets rotate-key`` makes the calls and shows the progress.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from hookline.api.http.auth import require_admin
from hookline.api.http.body import int_param
from hookline.api.http.context import Context, ctx
from hookline.core.sealed import key_ids

routes = web.RouteTableDef()
BASE = "/v2/admin/secrets"
SCAN_BATCH = 1000
MAX_COUNT = 1000


def _admin(request: web.Request) -> Context:
    c = ctx(request)
    require_admin(c.settings.admin_token, request)
    return c


@routes.get(BASE)
async def status(request: web.Request) -> web.Response:
    c = _admin(request)
    stored: Counter[str] = Counter()
    subscriptions = resealable = 0
    after = 0
    while batch := await c.store.stored(after, SCAN_BATCH):
        for record in batch:
            ids = key_ids(record)
            stored += ids
            subscriptions += 1
            resealable += any(kid != c.store.keyring.current_id for kid in ids)
        after = batch[-1].id
    value = {
        "sealingKeyId": c.store.keyring.current_id,
        "keyIds": list(c.store.keyring.ids),
        "stored": dict(sorted(stored.items())),
        "subscriptions": subscriptions,
        "toReseal": resealable,
    }
    return web.json_response({"value": value})


@routes.post(BASE + "/rotate-key")
async def rotate_key(request: web.Request) -> web.Response:
    c = _admin(request)
    after = int_param(request, "after", 0, high=2**63 - 1)
    count = int_param(request, "count", 100, low=1, high=MAX_COUNT)
    batch = await c.store.stored(after, count)
    resealed = 0
    for record in batch:
        resealed += await c.store.reseal(record.id)
    value = {
        "checked": len(batch),
        "resealed": resealed,
        "sealingKeyId": c.store.keyring.current_id,
        "next": batch[-1].id if len(batch) == count else None,
    }
    return web.json_response({"value": value})
