"""Paths of the subscriptions, the event catalog, publishing and administration."""

from __future__ import annotations

from hookline.api.openapi.kit import Doc, content, op, path_param, ref
from hookline.api.openapi.schemas import FIELDS, ID, LIST_PARAMS

_SUB_CREATE_EXAMPLE = {
    "event": "product.create",
    "targetUrl": "https://example.com/hook",
    "fields": "id,name",
}


def subscription_paths() -> Doc:
    base = "/v2/event/subscription"
    value = ("200", {"description": "The subscription", **content(ref("SubscriptionValue"))})
    return {
        base: {
            "get": op(
                "subscriptions",
                "List subscriptions",
                "Newest first unless `sorting` says otherwise.",
                ("200", {"description": "A page", **content(ref("SubscriptionList"))}),
                "401 422",
                params=LIST_PARAMS,
            ),
            "post": op(
                "subscriptions",
                "Subscribe a URL to events",
                "Give `event` or `events`. The answer carries the whole signing `secret`.",
                ("201", {"description": "Created", **content(ref("SubscriptionValue"))}),
                "400 401 413 422",
                body=content(ref("SubscriptionCreate"), _SUB_CREATE_EXAMPLE),
                params=[FIELDS],
            ),
        },
        base + "/{id}": {
            "get": op("subscriptions", "Read one", "", value, "401 404 422", params=[ID, FIELDS]),
            "put": op(
                "subscriptions",
                "Change one",
                "Fields left out stay as they are. `status: ACTIVE` re-enables a disabled"
                " subscription. Send the `version` you read to be told (409) of a change"
                " made since.",
                value,
                "400 401 404 409 413 422",
                body=content(ref("SubscriptionUpdate"), {"version": 0, "status": "ACTIVE"}),
                params=[ID, FIELDS],
            ),
            "delete": op(
                "subscriptions",
                "Delete one",
                "Then the id answers 404.",
                ("204", {"description": "Deleted"}),
                "401 404 422",
                params=[ID],
            ),
        },
        base + "/{id}/secret": {
            "get": op(
                "subscriptions",
                "Read the whole signing secret",
                "Other answers show only its first characters.",
                ("200", {"description": "The secret", **content(ref("Secret"))}),
                "401 404 422",
                params=[ID],
            )
        },
    }


def event_paths() -> Doc:
    name = path_param("eventType", {"type": "string"}, "An event type, `object.verb`")
    publish_body = {"oneOf": [ref("EventIn"), {"type": "array", "items": ref("EventIn")}]}
    return {
        "/v2/event": {
            "get": op(
                "events",
                "The event catalog",
                "Every event type one can subscribe to.",
                ("200", {"description": "The catalog", **content(ref("Catalog"))}),
                "401",
            )
        },
        "/v2/event/{eventType}": {
            "get": op(
                "events",
                "One catalog entry",
                "",
                ("200", {"description": "The entry", **content(ref("Catalog"))}),
                "401 404",
                params=[name],
            )
        },
        "/v2/event/publish": {
            "post": op(
                "events",
                "Publish one event or a list of up to 1,000",
                "The same `eventId` twice is one event.",
                ("202", {"description": "Accepted", **content(ref("Published"))}),
                "400 401 413 422",
                body=content(
                    publish_body,
                    {"event": "product.create", "id": 42, "value": {"id": 42, "name": "Widget"}},
                ),
            )
        },
    }


def admin_paths() -> Doc:
    tenant = path_param("id", {"type": "integer", "minimum": 1}, "Tenant id")
    key = path_param("keyId", {"type": "integer", "minimum": 1}, "API key id")
    name = path_param("eventType", {"type": "string"}, "An event type, `object.verb`")
    string = {"type": "string"}
    created = {"type": "object", "required": ["value"], "properties": {"value": {"type": "object"}}}
    return {
        "/v2/admin/tenants": {
            "post": op(
                "admin",
                "Create a tenant and its first API key",
                "The key is shown once.",
                ("201", {"description": "Created", **content(created)}),
                "400 401 413 422",
                body=content({"type": "object", "properties": {"name": string}}, {"name": "acme"}),
                admin=True,
            )
        },
        "/v2/admin/tenants/{id}/keys": {
            "post": op(
                "admin",
                "Issue another API key",
                "The key is shown once.",
                ("201", {"description": "Issued", **content(created)}),
                "401 404 422",
                params=[tenant],
                admin=True,
            )
        },
        "/v2/admin/tenants/{id}/keys/{keyId}": {
            "delete": op(
                "admin",
                "Revoke an API key",
                "",
                ("204", {"description": "Revoked"}),
                "401 404 422",
                params=[tenant, key],
                admin=True,
            )
        },
        "/v2/admin/event/{eventType}": {
            "put": op(
                "admin",
                "Add or change an event type",
                "",
                ("200", {"description": "The entry", **content(ref("Catalog"))}),
                "400 401 413 422",
                params=[name],
                body=content(
                    {
                        "type": "object",
                        "properties": {
                            "description": string,
                            "payloadModel": string,
                            "plural": string,
                        },
                    },
                    {"description": "A product has been created", "payloadModel": "Product"},
                ),
                admin=True,
            )
        },
    }
