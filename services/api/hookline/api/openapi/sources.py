"""Paths of the sources (``hookline.api.http.sources``)."""

from __future__ import annotations

from hookline.api.openapi.kit import Doc, content, op, page_of, paging, path_param

_PATHS = {
    "type": "object",
    "description": "For format `json`: where each field of the event is, as `$.a.b` or"
    " `a.b[0]`; `event`, `id` and `tenant` are required (`tenant` not with a fixed"
    " `tenant`)",
    "properties": {
        name: {"type": "string", "maxLength": 200}
        for name in ("event", "id", "tenant", "version", "eventId", "value", "occurredAt")
    },
    "additionalProperties": False,
}
_ATTRIBUTE = {"type": "string", "pattern": "^[a-z0-9]{1,20}$"}
_DEFINITION = {
    "type": "object",
    "required": ["topic", "format"],
    "additionalProperties": False,
    "properties": {
        "topic": {"type": "string", "description": "The Kafka topic to read"},
        "format": {"type": "string", "enum": ["cloudevents", "json"]},
        "tenantAttribute": {
            **_ATTRIBUTE,
            "default": "hooklinetenant",
            "description": "CloudEvents: the extension attribute with the tenant id",
        },
        "versionAttribute": {
            **_ATTRIBUTE,
            "default": "hooklineversion",
            "description": "CloudEvents: the extension attribute with the object's version",
        },
        "typePrefix": {
            "type": "string",
            "maxLength": 200,
            "default": "",
            "description": "Taken off the start of each event type (`com.example.`)",
        },
        "paths": _PATHS,
        "tenant": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "The tenant of every record: one that names none is its, one"
            " that names another is quarantined",
        },
        "tenants": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "minItems": 1,
            "maxItems": 1000,
            "uniqueItems": True,
            "description": "The only tenants a record may name (not with `tenant`)",
        },
    },
}
_SOURCE = {
    "type": "object",
    "properties": {
        **_DEFINITION["properties"],  # type: ignore[dict-item]
        "tenants": {"type": "array", "items": {"type": "integer"}},  # [] when unlimited
        "name": {"type": "string"},
        "version": {"type": "integer"},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
    },
}
_NAME = path_param(
    "name", {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}, "The source's name"
)
_EXAMPLE = {
    "topic": "orders.cloudevents",
    "format": "cloudevents",
    "typePrefix": "com.example.",
}


def sources_paths() -> Doc:
    one = {"type": "object", "required": ["value"], "properties": {"value": _SOURCE}}
    return {
        "/v2/admin/sources": {
            "get": op(
                "admin",
                "The sources",
                "Existing topics the routers read as events, by name.",
                ("200", {"description": "A page", **content(page_of(_SOURCE))}),
                "401 422",
                params=paging(1000, 1000),
                admin=True,
            )
        },
        "/v2/admin/sources/{name}": {
            "get": op(
                "admin",
                "One source",
                "A source's definition.",
                ("200", {"description": "The source", **content(one)}),
                "401 404",
                params=[_NAME],
                admin=True,
            ),
            "put": _put(one),
            "delete": op(
                "admin",
                "Delete a source",
                "The routers stop reading its topic.",
                ("204", {"description": "Deleted"}),
                "401 404",
                params=[_NAME],
                admin=True,
            ),
        },
    }


def _put(one: Doc) -> Doc:
    put = op(
        "admin",
        "Create or replace a source",
        "Names a Kafka topic and how to read an event from each of its records:"
        " CloudEvents (structured or binary Kafka mode) or JSON with paths. The"
        " routers start reading it from its earliest record; a record that cannot"
        " be read as an event is quarantined with the reason. A topic another"
        " source reads already is a 409 that names it.",
        ("200", {"description": "Replaced", **content(one)}),
        "401 404 409 413 422",
        params=[_NAME],
        body=content(_DEFINITION, _EXAMPLE),
        admin=True,
    )
    put["responses"]["201"] = {"description": "Created", **content(one)}
    return put
