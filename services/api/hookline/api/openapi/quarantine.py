"""Paths of the quarantine (``hookline.api.http.quarantine``)."""

from __future__ import annotations

from hookline.api.openapi.kit import (
    NULLABLE_STRING,
    Doc,
    content,
    op,
    page_of,
    paging,
    path_param,
    query,
)

_QUARANTINED = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "service": {"type": "string", "description": "api, router, deliverer or retry-scheduler"},
        "reason": {"type": "string"},
        "tenant": {**NULLABLE_STRING, "description": "A best guess, from the value"},
        "topic": {"type": "string", "description": "The topic the record was read from"},
        "partition": {"type": "integer"},
        "offset": {"type": "integer"},
        "quarantinedAt": {"type": "string", "format": "date-time"},
        "redrivenAt": NULLABLE_STRING,
        "truncated": {"type": "boolean", "description": "The value was too large to keep whole"},
        "value": {"description": "The value when it is JSON, secrets masked; else null"},
        "valueText": {**NULLABLE_STRING, "description": "The value when it is not JSON"},
        "valueBytes": {"type": "integer"},
    },
}


def quarantine_paths() -> Doc:
    text = {"type": "string"}
    one = {"type": "object", "required": ["value"], "properties": {"value": _QUARANTINED}}
    return {
        "/v2/admin/quarantine": {
            "get": op(
                "admin",
                "The quarantine",
                "Records a consumer could not process (undecodable, wrong types, a value"
                " the database or an encoder refuses), newest first, with the reason and"
                " where they were read.",
                ("200", {"description": "A page", **content(page_of(_QUARANTINED))}),
                "401 422",
                params=[
                    *paging(100, 1000),
                    query("tenant", text, "Only this tenant's (as guessed)"),
                    query("service", text, "Only those this service set aside"),
                    query("topic", text, "Only those read from this topic"),
                    query("redriven", text, "`true` or `false`"),
                ],
                admin=True,
            )
        },
        "/v2/admin/quarantine/{id}/redrive": {
            "post": op(
                "admin",
                "Re-drive a quarantined record",
                "Produces the record's original key, value and headers to the topic it was"
                ' read from, or `{"value": ...}` in its place, and marks it re-driven.'
                " If it still cannot be processed it is quarantined again, as a new entry.",
                ("202", {"description": "Back on its topic", **content(one)}),
                "401 404 409 413 422",
                params=[path_param("id", {"type": "integer", "minimum": 1}, "Quarantine id")],
                body=content({"type": "object", "properties": {"value": {}}}, {}),
                admin=True,
            )
        },
    }
