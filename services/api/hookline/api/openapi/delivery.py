"""Paths of the attempt log, the dead letters and secret rotation
(``hookline.api.http.attempts``, ``.deadletters`` and ``.rotation``)."""

from __future__ import annotations

from hookline.api.openapi.kit import (
    NULLABLE_INT,
    NULLABLE_STRING,
    Doc,
    content,
    op,
    page_of,
    paging,
    query,
)
from hookline.api.openapi.schemas import ID

_ATTEMPT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "deliveryId": {"type": "string"},
        "eventId": {"type": "string"},
        "event": {"type": "string"},
        "attempt": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
        "outcome": {"type": "string"},
        "reason": {"type": "string"},
        "status": NULLABLE_INT,
        "latencyMs": {"type": ["number", "null"]},
        "responseBody": NULLABLE_STRING,
    },
}
_DEAD_LETTER = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "deliveryId": {"type": "string"},
        "eventId": {"type": "string"},
        "event": {"type": "string"},
        "objectId": {"type": ["integer", "string", "null"]},
        "attempts": {"type": "integer"},
        "lastError": NULLABLE_STRING,
        "deadAt": {"type": "string", "format": "date-time"},
        "redeliveredAt": NULLABLE_STRING,
        "value": {"description": "The payload as it would have been delivered"},
    },
}


def delivery_paths() -> Doc:
    """The attempt log, the dead letters and secret rotation (hookline.api.http.attempts,
    .deadletters and .rotation)."""
    base = "/v2/event/subscription/{id}"
    text = {"type": "string"}
    attempts_params = [
        *paging(100, 1000),
        query("status", text, "An HTTP status such as `503`, or a class such as `5xx`"),
        query("outcome", text, "SUCCESS, RETRY, GONE or REFUSED"),
        query("since", text, "ISO 8601: attempts at or after"),
        query("until", text, "ISO 8601: attempts before"),
        query("deliveryId", text, "One delivery's attempts"),
        query("eventId", text, "One event's attempts"),
    ]
    redelivered = {
        "type": "object",
        "required": ["value"],
        "properties": {
            "value": {
                "type": "object",
                "properties": {
                    "redelivered": {"type": "integer"},
                    "ids": {"type": "array", "items": {"type": "integer"}},
                    "remaining": {"type": "integer"},
                },
            }
        },
    }
    rotated = {
        "type": "object",
        "required": ["value"],
        "properties": {
            "value": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "version": {"type": "integer"},
                    "secret": {"type": "string"},
                    "previousSecretExpiresAt": NULLABLE_STRING,
                },
            }
        },
    }
    return {
        base + "/attempts": {
            "get": op(
                "deliveries",
                "The attempt log",
                "Every HTTP request made to the target, newest first.",
                ("200", {"description": "A page", **content(page_of(_ATTEMPT))}),
                "401 404 422",
                params=[ID, *attempts_params],
            )
        },
        base + "/deadletters": {
            "get": op(
                "deliveries",
                "The dead letters",
                "Deliveries that ran out of retries or whose target answered 410; newest first.",
                ("200", {"description": "A page", **content(page_of(_DEAD_LETTER))}),
                "401 404 422",
                params=[
                    ID,
                    *paging(100, 1000),
                    query("redelivered", text, "`true` or `false`"),
                ],
            )
        },
        base + "/deadletters/redeliver": {
            "post": op(
                "deliveries",
                "Redeliver dead letters",
                '`{"id": 7}` for one, `{"all": true}` for every one not redelivered yet.'
                " Each gets the whole retry schedule again, with the same `webhook-id`.",
                ("202", {"description": "Back on their way", **content(redelivered)}),
                "400 401 404 409 413 422",
                params=[ID],
                body=content(
                    {
                        "type": "object",
                        "properties": {"id": {"type": "integer"}, "all": {"type": "boolean"}},
                    },
                    {"all": True},
                ),
            )
        },
        base + "/secret/rotate": {
            "post": op(
                "subscriptions",
                "Rotate the signing secret",
                "The answer carries the new secret; the old one keeps signing beside it"
                " until `previousSecretExpiresAt`.",
                ("200", {"description": "The new secret", **content(rotated)}),
                "401 404 409 422",
                params=[ID],
            )
        },
    }
