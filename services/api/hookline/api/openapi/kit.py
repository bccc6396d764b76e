"""Small builders for the hand-written OpenAPI document."""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]
NULLABLE_STRING: Doc = {"type": ["string", "null"]}
NULLABLE_INT: Doc = {"type": ["integer", "null"]}


def ref(name: str) -> Doc:
    return {"$ref": f"#/components/schemas/{name}"}


def content(schema: Doc, example: Any = None) -> Doc:
    media: Doc = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"content": {"application/json": media}}


def error(description: str) -> Doc:
    return {"description": description, **content(ref("Error"))}


ERRORS = {
    "400": error(
        "A malformed request: a body that is not JSON, or a request line or header"
        " that HTTP cannot carry"
    ),
    "401": error("No valid API key"),
    "404": error("No such object for this tenant"),
    "409": error("The `version` sent is not the current one"),
    "413": error("The body is over the size limit"),
    "422": error("Input that breaks a rule; `validationMessages` lists every bad field"),
    "408": error("The body did not arrive within `HOOKLINE_HTTP_BODY_TIMEOUT`"),
}
RETRY_AFTER: Doc = {
    "Retry-After": {
        "description": "Whole seconds to wait before sending the request again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
ERRORS["429"] = {
    **error("The tenant is over its rate limit (`HOOKLINE_API_RATE`, `HOOKLINE_API_BURST`)"),
    "headers": RETRY_AFTER,
}


def op(
    tag: str,
    summary: str,
    description: str,
    ok: tuple[str, Doc],
    errors: str,
    *,
    body: Doc | None = None,
    params: list[Doc] | None = None,
    admin: bool = False,
) -> Doc:
    op: Doc = {"tags": [tag], "summary": summary, "description": description}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, **body}
    # Any request can be malformed (400), whatever else the operation answers.
    codes = dict.fromkeys(["400", *errors.split()])
    if body is not None:
        codes["408"] = None
    if not admin:  # a tenant's key is rate limited; the admin token is not
        codes["429"] = None
    op["responses"] = {ok[0]: ok[1], **{code: ERRORS[code] for code in codes}}
    if admin:
        op["security"] = [{"adminToken": []}]
    return op


def path_param(name: str, schema: Doc, description: str) -> Doc:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


def query(name: str, schema: Doc, description: str) -> Doc:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def filter_param(description: str) -> Doc:
    """Booqable's ``filter[attribute][operator]=value``, as OpenAPI's deepObject."""
    return {
        "name": "filter",
        "in": "query",
        "required": False,
        "style": "deepObject",
        "explode": True,
        "schema": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "description": description,
    }


def page_of(item: Doc) -> Doc:
    return {
        "type": "object",
        "required": ["fullResultSize", "from", "count", "values"],
        "properties": {
            "fullResultSize": {"type": "integer"},
            "from": {"type": "integer"},
            "count": {"type": "integer"},
            "values": {"type": "array", "items": item},
        },
    }


def paging(default: int, high: int) -> list[Doc]:
    return [
        query("from", {"type": "integer", "minimum": 0, "default": 0}, "Skip this many values"),
        query(
            "count",
            {"type": "integer", "minimum": 0, "maximum": high, "default": default},
            "At most this many values",
        ),
    ]
