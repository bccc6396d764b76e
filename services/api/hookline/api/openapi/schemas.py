"""The document's shared parts: the objects the API answers with and its parameters."""

from __future__ import annotations

from hookline.api.http.listing import ATTRIBUTES, DEFAULT_COUNT, MAX_COUNT, OPERATORS, SORTABLE
from hookline.api.openapi.kit import NULLABLE_STRING, Doc, filter_param, path_param, query, ref
from hookline.core.dialects import DIALECTS
from hookline.core.subscriptions import STATUSES

DIALECT: Doc = {
    "type": "string",
    "enum": list(DIALECTS),
    "description": "Whose delivery envelope and signature header (docs/api.md, Dialects)",
}

ID = path_param("id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}, "Subscription id")
FIELDS = query(
    "fields",
    {"type": "string"},
    "Which fields to answer with, in Tripletex's syntax: `id,targetUrl,events`",
)
LIST_PARAMS = [
    query("from", {"type": "integer", "minimum": 0, "default": 0}, "Skip this many values"),
    query(
        "count",
        {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": DEFAULT_COUNT},
        "At most this many values",
    ),
    query(
        "sorting",
        {"type": "string", "default": "-createdAt"},
        f"Comma-separated, `-` for descending; of {', '.join(SORTABLE)}. Default newest first.",
    ),
    FIELDS,
    query("event", {"type": "string"}, "Only subscriptions to this event type"),
    query("status", {"type": "string", "enum": list(STATUSES)}, "Only this status"),
    query("targetUrl", {"type": "string"}, "Only this target URL (as shown, password masked)"),
    filter_param(
        f"`filter[attribute][operator]=value` (Booqable's), on {', '.join(ATTRIBUTES)};"
        f" operators {', '.join(OPERATORS)} (prefix and suffix on targetUrl and status)."
        " Times are ISO 8601 and compared to the millisecond."
    ),
]

SUBSCRIPTION = {
    "type": "object",
    "description": "Every property is present unless `fields` leaves it out.",
    "properties": {
        "id": {"type": "integer"},
        "version": {"type": "integer", "description": "How many times it was changed"},
        "url": {"type": "string"},
        "event": {**NULLABLE_STRING, "description": "The event type, when there is one"},
        "events": {"type": "array", "items": {"type": "string"}},
        "targetUrl": {"type": "string", "description": "A password in it is shown as ****"},
        "fields": NULLABLE_STRING,
        "format": {"type": "string", "enum": ["default", "batch"]},
        "dialect": DIALECT,
        "status": {"type": "string", "enum": list(STATUSES)},
        "authHeaderName": NULLABLE_STRING,
        "authHeaderValue": {**NULLABLE_STRING, "description": "Always **** when set"},
        "secret": {
            "type": "string",
            "description": "Whole in the answer to the create, a prefix otherwise",
        },
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
    },
}
WRITABLE: Doc = {
    "event": {"type": "string", "description": "One event type, `object.verb`"},
    "events": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "targetUrl": {"type": "string", "description": "https, unless the server allows http"},
    "fields": {**NULLABLE_STRING, "description": "What of the object to send"},
    "format": {"type": "string", "enum": ["default", "batch"]},
    "dialect": DIALECT,
    "authHeaderName": NULLABLE_STRING,
    "authHeaderValue": NULLABLE_STRING,
}
EVENT_IN = {
    "type": "object",
    "required": ["event", "id"],
    "properties": {
        "event": {"type": "string"},
        "id": {"type": ["integer", "string"], "description": "The object's id"},
        "value": {"type": ["object", "null"], "description": "The object; null for a delete"},
        "eventId": {"type": "string", "minLength": 1, "maxLength": 200},
        "version": {"type": "integer", "description": "The object's version"},
    },
}
CATALOG_ENTRY = {
    "type": "object",
    "required": ["description"],
    "properties": {"description": {"type": "string"}, "payloadModel": {"type": "string"}},
}

SCHEMAS: Doc = {
    "Error": {
        "type": "object",
        "required": ["status", "code", "message"],
        "properties": {
            "status": {"type": "integer"},
            "code": {"type": "string"},
            "message": {"type": "string"},
            "validationMessages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "Subscription": SUBSCRIPTION,
    "SubscriptionValue": {
        "type": "object",
        "required": ["value"],
        "properties": {"value": ref("Subscription")},
    },
    "SubscriptionList": {
        "type": "object",
        "required": ["fullResultSize", "from", "count", "values"],
        "properties": {
            "fullResultSize": {"type": "integer"},
            "from": {"type": "integer"},
            "count": {"type": "integer"},
            "values": {"type": "array", "items": ref("Subscription")},
        },
    },
    "SubscriptionCreate": {"type": "object", "properties": WRITABLE},
    "SubscriptionUpdate": {
        "type": "object",
        "properties": {
            **WRITABLE,
            "status": {"type": "string", "enum": ["ACTIVE", "DISABLED"]},
            "version": {"type": "integer", "description": "The version you read; 409 if stale"},
        },
    },
    "Secret": {
        "type": "object",
        "required": ["value"],
        "properties": {
            "value": {
                "type": "object",
                "required": ["id", "secret"],
                "properties": {"id": {"type": "integer"}, "secret": {"type": "string"}},
            }
        },
    },
    "Catalog": {
        "type": "object",
        "required": ["value"],
        "properties": {"value": {"type": "object", "additionalProperties": CATALOG_ENTRY}},
    },
    "EventIn": EVENT_IN,
    "Published": {
        "type": "object",
        "required": ["value"],
        "properties": {
            "value": {
                "type": "object",
                "properties": {
                    "eventId": {"type": "string"},
                    "eventIds": {"type": "array", "items": {"type": "string"}},
                },
            }
        },
    },
}
