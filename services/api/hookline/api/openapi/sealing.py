"""Paths of the sealing keys (``hookline.api.http.sealing``)."""

from __future__ import annotations

from hookline.api.openapi.kit import Doc, content, op, query

_STATUS = {
    "type": "object",
    "properties": {
        "sealingKeyId": {"type": "string", "description": "The key that seals new values"},
        "keyIds": {"type": "array", "items": {"type": "string"}},
        "stored": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "Stored secrets by key id; `clear` for those not sealed yet",
        },
        "subscriptions": {"type": "integer"},
        "toReseal": {"type": "integer", "description": "Subscriptions rotate-key would write"},
    },
}
_ROTATED = {
    "type": "object",
    "properties": {
        "checked": {"type": "integer"},
        "resealed": {"type": "integer"},
        "sealingKeyId": {"type": "string"},
        "next": {
            "type": ["integer", "null"],
            "description": "The `after` of the next call; null when none is left",
        },
    },
}


def sealing_paths() -> Doc:
    whole = {"type": "integer", "minimum": 0}
    return {
        "/v2/admin/secrets": {
            "get": op(
                "admin",
                "The keys that seal secrets at rest",
                "How many stored subscription secrets are under each key id: a key no"
                " secret is under any longer can be taken out of HOOKLINE_SECRETS_KEYS.",
                ("200", {"description": "The keys", **content(_wrapped(_STATUS))}),
                "401",
                admin=True,
            )
        },
        "/v2/admin/secrets/rotate-key": {
            "post": op(
                "admin",
                "Re-seal secrets under the current key",
                "Re-seals, through the write path, the subscriptions after `after` (up to"
                " `count`, in id order) whose secrets are in clear or under another key."
                " Idempotent; call again with `next` until it is null.",
                ("200", {"description": "What was done", **content(_wrapped(_ROTATED))}),
                "401 422",
                params=[
                    query("after", whole, "Only subscriptions with a greater id"),
                    query("count", {"type": "integer", "minimum": 1, "maximum": 1000}, "At most"),
                ],
                admin=True,
            )
        },
    }


def _wrapped(schema: Doc) -> Doc:
    return {"type": "object", "required": ["value"], "properties": {"value": schema}}
