"""A bounded schemathesis run against the running API: no 500, and every answer (status,
content type, body) is one that ``/v2/openapi.json`` documents.

Generated subscriptions point anywhere, so no generated event may reach them: the
subscription calls use one tenant and publishing another, which has no subscriptions.
Admin calls that only add or read things use the admin token; revoking keys and
re-driving quarantined records are fuzzed without it, so the run cannot revoke another
test's key or re-drive another test's record.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hookline.api import openapi
from support.stack import Stack

schema = schemathesis.openapi.from_dict(openapi.document())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _tenant_key(stack: Stack) -> str:
    request = urllib.request.Request(
        f"{stack.api_url}/v2/admin/tenants",
        data=json.dumps({"name": f"fuzz-{secrets.token_hex(3)}"}).encode(),
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as rsp:
        return str(json.loads(rsp.read())["value"]["apiKey"])


@pytest.fixture(scope="module")
def keys(stack: Stack) -> dict[str, str]:
    return {"subscriber": _tenant_key(stack), "publisher": _tenant_key(stack)}


def _authorization(case: Any, stack: Stack, keys: dict[str, str]) -> str:
    path, method = case.operation.path, case.operation.method.lower()
    if path.startswith("/v2/admin/") and method != "delete" and not path.endswith("/redrive"):
        return f"Bearer {stack.admin_token}"
    if path == "/v2/event/publish":
        return f"Bearer {keys['publisher']}"
    return f"Bearer {keys['subscriber']}"


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_as_documented(case: Any, stack: Stack, keys: dict[str, str]) -> None:
    headers = {"Authorization": _authorization(case, stack, keys)}
    response = case.call(base_url=stack.api_url, headers=headers, timeout=15)
    case.validate_response(response, checks=CHECKS, headers=headers)
