"""The other source APIs' operations (``hookline.api.dialects``), tagged by dialect,
each with its own error schema."""

from __future__ import annotations

from hookline.api.dialects import booqable_query, shareactor
from hookline.api.openapi.kit import (
    RETRY_AFTER,
    Doc,
    content,
    filter_param,
    path_param,
    query,
    ref,
)

_STRINGS: Doc = {"type": "array", "items": {"type": "string"}}
_DESCRIPTIONS = {
    "400": "A malformed request: a body that is not JSON or not of this shape, a bad"
    " query parameter",
    "401": "No valid API key",
    "404": "No such webhook for this tenant (also an id of another dialect's shape)",
    "409": "data.id or data.type is not the path's",
    "413": "The body is over the size limit",
    "422": "Input that breaks a rule: every one is named",
    "408": "The body did not arrive within `HOOKLINE_HTTP_BODY_TIMEOUT`",
    "429": "The tenant is over its rate limit; `Retry-After` says when to send again",
}


def _op(
    tag: str,
    summary: str,
    description: str,
    ok: tuple[str, Doc],
    errors: str,
    **more: Doc | list[Doc],
) -> Doc:
    error_schema = ref(f"{tag.capitalize()}Error")
    codes = dict.fromkeys(["400", "401", *errors.split(), *(["408"] if "body" in more else [])])
    responses = {ok[0]: ok[1]}
    for code in [*codes, "429"]:
        responses[code] = {"description": _DESCRIPTIONS[code], **content(error_schema)}
    responses["429"]["headers"] = RETRY_AFTER
    op: Doc = {
        "tags": [tag],
        "summary": summary,
        "description": description,
        "responses": responses,
    }
    if "body" in more:
        op["requestBody"] = {"required": True, **more["body"]}  # type: ignore[dict-item]
    if "params" in more:
        op["parameters"] = more["params"]
    if "security" in more:
        op["security"] = more["security"]
    return op


def _ok(status: str, what: str, schema: Doc) -> tuple[str, Doc]:
    return status, {"description": what, **content(schema)}


def _id(description: str) -> Doc:
    return path_param("id", {"type": "string"}, description)


def orderspace_paths() -> Doc:
    base, tag = "/v1/webhooks", "orderspace"
    one = _ok("200", "The webhook", ref("OrderspaceWebhookValue"))
    body = content(
        ref("OrderspaceWebhookIn"),
        {"webhook": {"endpoint": "https://example.com/hook", "events": ["order.created"]}},
    )
    wid = _id("`wh_` and 8 characters")
    return {
        base: {
            "get": _op(
                tag,
                "List webhooks (Orderspace)",
                "Newest first.",
                _ok("200", "The webhooks", ref("OrderspaceWebhookList")),
                "",
            ),
            "post": _op(
                tag,
                "Create a webhook (Orderspace)",
                "Answers 200, as Orderspace does.",
                one,
                "413 422",
                body=body,
            ),
        },
        base + "/{id}": {
            "get": _op(tag, "Read a webhook (Orderspace)", "", one, "404", params=[wid]),
            "put": _op(
                tag,
                "Change a webhook (Orderspace)",
                "What the body gives changes.",
                one,
                "404 413 422",
                body=body,
                params=[wid],
            ),
            "delete": _op(
                tag,
                "Delete a webhook (Orderspace)",
                "",
                ("204", {"description": "Deleted"}),
                "404",
                params=[wid],
            ),
        },
    }


def shareactor_paths() -> Doc:
    base, tag = "/webhooks", "shareactor"
    one = _ok("200", "The webhook", ref("ShareactorWebhook"))
    body = content(
        ref("ShareactorWebhookIn"),
        {"endpoint": "https://example.com/hook", "event_type": "order.created"},
    )
    wid = _id("A 24-hex-digit ObjectId")
    security: list[Doc] = [{"bearer": []}, {"shareActorKey": []}]
    list_params = [
        query("page", {"type": "integer", "minimum": 0, "default": 0}, "Which page, from 0"),
        query(
            "size",
            {
                "type": "integer",
                "minimum": 0,
                "maximum": shareactor.MAX_SIZE,
                "default": shareactor.DEFAULT_SIZE,
            },
            "Webhooks per page",
        ),
        query(
            "sort",
            {"type": "string", "default": shareactor.DEFAULT_SORT},
            f"Of {', '.join(shareactor.SORTABLE)}; `-` for descending",
        ),
    ]
    return {
        base: {
            "get": _op(
                tag,
                "List webhooks (ShareActor)",
                "A bare array.",
                _ok("200", "The webhooks", {"type": "array", "items": ref("ShareactorWebhook")}),
                "",
                params=list_params,
                security=security,
            ),
            "post": _op(
                tag,
                "Create a webhook (ShareActor)",
                "One event type per webhook.",
                one,
                "413 422",
                body=body,
                security=security,
            ),
        },
        base + "/{id}": {
            "get": _op(
                tag, "Read a webhook (ShareActor)", "", one, "404", params=[wid], security=security
            ),
            "put": _op(
                tag,
                "Change a webhook (ShareActor)",
                "Only what the body gives.",
                one,
                "404 413 422",
                body=body,
                params=[wid],
                security=security,
            ),
            "delete": _op(
                tag,
                "Delete a webhook (ShareActor)",
                "A soft delete: answers the webhook with `deleted: true`; then its id answers 404.",
                one,
                "404",
                params=[wid],
                security=security,
            ),
        },
    }


def _booqable_list_params(fields: Doc) -> list[Doc]:
    return [
        fields,
        filter_param(
            "`filter[attribute][operator]=value`: "
            + "; ".join(f"{a}: {', '.join(ops)}" for a, ops in booqable_query.OPERATORS.items())
        ),
        query(
            "sort",
            {"type": "string"},
            f"`attribute1,-attribute2`, of {', '.join(booqable_query.SORTABLE)}",
        ),
        query(
            "page[number]", {"type": "integer", "minimum": 1, "default": 1}, "Which page, from 1"
        ),
        query(
            "page[size]",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": booqable_query.MAX_SIZE,
                "default": booqable_query.DEFAULT_SIZE,
            },
            "Per page",
        ),
        query("meta[total][]", {"type": "string", "enum": ["count"]}, "Answer `meta.total.count`"),
    ]


def booqable_paths() -> Doc:
    base, tag = "/api/boomerang/webhook_endpoints", "booqable"
    one = _ok("200", "The webhook endpoint", ref("BooqableDocument"))
    fields = query(
        f"fields[{booqable_query.TYPE}]",
        {"type": "string"},
        f"Comma-separated, of {', '.join(booqable_query.ATTRIBUTES)}",
    )
    body = content(
        ref("BooqableIn"),
        {
            "data": {
                "type": "webhook_endpoints",
                "attributes": {"url": "https://example.com/hooks", "events": ["customer.created"]},
            }
        },
    )
    wid = _id("A UUID")
    list_params = _booqable_list_params(fields)
    return {
        base: {
            "get": _op(
                tag,
                "List webhook endpoints (Booqable)",
                "",
                _ok("200", "A page", ref("BooqableList")),
                "",
                params=list_params,
            ),
            "post": _op(
                tag,
                "Subscribe to webhook events (Booqable)",
                "",
                _ok("201", "Created", ref("BooqableDocument")),
                "409 413 422",
                body=body,
                params=[fields],
            ),
        },
        base + "/{id}": {
            "get": _op(
                tag, "Read a webhook endpoint (Booqable)", "", one, "404", params=[wid, fields]
            ),
            "put": _op(
                tag,
                "Update webhook events (Booqable)",
                "`data.id` must be the path's.",
                one,
                "404 409 413 422",
                body=body,
                params=[wid, fields],
            ),
            "delete": _op(
                tag,
                "Unsubscribe from webhook events (Booqable)",
                "Answers the endpoint with `events: []`.",
                one,
                "404",
                params=[wid, fields],
            ),
        },
    }


def dialect_paths() -> Doc:
    return {**orderspace_paths(), **shareactor_paths(), **booqable_paths()}


_OID: Doc = {
    "type": "object",
    "required": ["$oid"],
    "properties": {"$oid": {"type": "string", "pattern": "^[0-9a-f]{24}$"}},
}
_DATE: Doc = {"type": "object", "required": ["$date"], "properties": {"$date": {"type": "integer"}}}
_ORDERSPACE_WEBHOOK: Doc = {
    "type": "object",
    "required": ["id", "endpoint", "signing_key", "events"],
    "properties": {
        "id": {"type": "string", "pattern": "^wh_[0-9a-z]{8}$"},
        "endpoint": {"type": "string"},
        "signing_key": {"type": "string"},
        "events": _STRINGS,
    },
}
_BOOQABLE_RESOURCE: Doc = {
    "type": "object",
    "required": ["id", "type", "attributes"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "type": {"type": "string", "enum": [booqable_query.TYPE]},
        "attributes": {
            "type": "object",
            "properties": {
                "created_at": {"type": "string"},
                "updated_at": {"type": "string"},
                "url": {"type": "string"},
                "events": _STRINGS,
            },
        },
    },
}
DIALECT_SCHEMAS: Doc = {
    "OrderspaceError": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    },
    "OrderspaceWebhook": _ORDERSPACE_WEBHOOK,
    "OrderspaceWebhookValue": {
        "type": "object",
        "required": ["webhook"],
        "properties": {"webhook": ref("OrderspaceWebhook")},
    },
    "OrderspaceWebhookList": {
        "type": "object",
        "required": ["webhooks"],
        "properties": {"webhooks": {"type": "array", "items": ref("OrderspaceWebhook")}},
    },
    "OrderspaceWebhookIn": {
        "type": "object",
        "required": ["webhook"],
        "properties": {
            "webhook": {
                "type": "object",
                "properties": {"endpoint": {"type": "string"}, "events": _STRINGS},
            }
        },
    },
    "ShareactorError": {
        "type": "object",
        "required": ["_status", "_error"],
        "properties": {
            "_status": {"type": "string", "enum": ["ERR"]},
            "_error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            },
            "_issues": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "ShareactorWebhook": {
        "type": "object",
        "required": [
            "_id",
            "company",
            "created",
            "updated",
            "event_type",
            "deleted",
            "secret",
            "endpoint",
        ],
        "properties": {
            "_id": _OID,
            "company": _OID,
            "created": _DATE,
            "updated": _DATE,
            "event_type": {"type": "string"},
            "event_types": {**_STRINGS, "description": "All of them, when there are several"},
            "deleted": {"type": "boolean"},
            "secret": {"type": "string"},
            "endpoint": {"type": "string"},
        },
    },
    "ShareactorWebhookIn": {
        "type": "object",
        "properties": {"endpoint": {"type": "string"}, "event_type": {"type": "string"}},
    },
    "BooqableError": {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "status", "title", "detail"],
                    "properties": {
                        "code": {"type": "string"},
                        "status": {"type": "string"},
                        "title": {"type": "string"},
                        "detail": {"type": "string"},
                        "source": {"type": "object"},
                        "meta": {"type": "object"},
                    },
                },
            }
        },
    },
    "BooqableResource": _BOOQABLE_RESOURCE,
    "BooqableDocument": {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {"data": ref("BooqableResource"), "meta": {"type": "object"}},
    },
    "BooqableList": {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {
            "data": {"type": "array", "items": ref("BooqableResource")},
            "meta": {"type": "object"},
        },
    },
    "BooqableIn": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": [booqable_query.TYPE]},
                    "id": {"type": "string"},
                    "attributes": {
                        "type": "object",
                        "properties": {"url": {"type": "string"}, "events": _STRINGS},
                    },
                },
            }
        },
    },
}
