"""A small blocking client for the API: JSON in, JSON out, errors as ``ApiAnswer``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from hookline.cli.config import CliError

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def message(self) -> str:
        if isinstance(self.body, dict) and self.body.get("message"):
            return f"{self.status} {self.body['message']}"
        return f"{self.status} {str(self.body)[:300]}"

    @property
    def route_missing(self) -> bool:
        """The API has no such route at all (an older version), not a missing object."""
        code = self.body.get("code") if isinstance(self.body, dict) else None
        return self.status == 405 or (self.status == 404 and code != "not_found")


def call(base: str, token: str, method: str, path: str, body: Any = None) -> ApiAnswer:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as rsp:
            return ApiAnswer(rsp.status, _decode(rsp.read()))
    except urllib.error.HTTPError as exc:
        return ApiAnswer(exc.code, _decode(exc.read()))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(
            f"cannot reach the API at {base}: {reason} (is it up? `hookline up`)"
        ) from exc


def expect(answer: ApiAnswer, what: str) -> Any:
    if not answer.ok:
        raise CliError(f"{what} failed: {answer.message()}")
    return answer.body


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
