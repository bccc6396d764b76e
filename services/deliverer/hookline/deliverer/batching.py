"""The body of a batch delivery (Orderspace's format)::

    {"event": "customer.created", "data": {"customers": [{...}, {...}]}}

``payload`` already holds ``data`` (made by ``hookline.core.batches``, objects
filtered by ``fields``); it is signed like any other body.
"""

from __future__ import annotations

import orjson

from hookline.core.messages import Delivery
from hookline.core.routing import BATCH


def is_batch(delivery: Delivery) -> bool:
    return delivery.format == BATCH


def body_of(delivery: Delivery) -> bytes:
    return orjson.dumps({"event": delivery.event, "data": delivery.payload})
