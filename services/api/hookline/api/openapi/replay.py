"""Paths of replays (``hookline.api.http.replay``)."""

from __future__ import annotations

from hookline.api.openapi.kit import NULLABLE_INT, NULLABLE_STRING, Doc, content, op, path_param

BASE = "/v2/event/subscription/{id}/replay"

_REPLAY: Doc = {
    "type": "object",
    "required": ["id", "url", "subscriptionId", "since", "status"],
    "properties": {
        "id": {"type": "string"},
        "url": {"type": "string"},
        "subscriptionId": {"type": "integer"},
        "since": {"type": "string", "format": "date-time"},
        "status": {"type": "string", "enum": ["RUNNING", "DONE", "FAILED"]},
        "total": NULLABLE_INT,
        "processed": {"type": "integer"},
        "replayed": {"type": "integer"},
        "error": NULLABLE_STRING,
        "createdAt": {"type": "string", "format": "date-time"},
        "finishedAt": NULLABLE_STRING,
    },
}


def replay_paths() -> Doc:
    """Replays (hookline.api.http.replay)."""
    one = {"type": "object", "required": ["value"], "properties": {"value": _REPLAY}}
    sub_id = path_param("id", {"type": "integer", "minimum": 1}, "The subscription's id")
    start_op = op(
        "replay",
        "Replay events to a subscription",
        "Routes the tenant's events published since `since` again, to this subscription"
        " only, with new webhook ids. Runs in the background: follow it with GET on `url`.",
        ("202", {"description": "The replay, started", **content(one)}),
        "400 401 404 409 413 422",
        body=content(
            {
                "type": "object",
                "required": ["since"],
                "properties": {"since": {"type": "string", "format": "date-time"}},
            },
            {"since": "2026-11-25T10:00:00Z"},
        ),
        params=[sub_id],
    )
    read_op = op(
        "replay",
        "A replay's progress",
        "How far a replay is: `processed` of `total` events read, `replayed` sent.",
        ("200", {"description": "The replay", **content(one)}),
        "401 404 422",
        params=[sub_id, path_param("replayId", {"type": "string"}, "The replay's id")],
    )
    return {BASE: {"post": start_op}, BASE + "/{replayId}": {"get": read_op}}
