"""No secret reaches a log line: the redaction filter of every service's JSON logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from hookline.core.service import JsonFormatter, RedactingFilter, redact, redact_value

ADMIN_TOKEN = "adm1n-T0ken-for-tests-7c2f"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
API_KEY = "hl_Zx8yq3Qw-Ppa0t9vV2kzN1c8rGmW4oYt5Tn7uHqLsE0"


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter([ADMIN_TOKEN]))
    logger = logging.getLogger("hookline.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def entries(out: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_secrets_in_messages_and_arguments_are_masked(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = lines
    log.info("created subscription with secret %s", SECRET)
    log.info("request with Authorization: Bearer %s", API_KEY)
    log.info("admin call with token %s", ADMIN_TOKEN)
    log.warning("target https://shop:hunter2pass@example.com/hook failed")
    log.info('body {"authHeaderValue": "Sup3rS3cret!", "targetUrl": "https://x.example"}')
    log.info("Basic %s", "dXNlcjpwYXNzd29yZA==")
    text = out.getvalue()
    for secret in (
        SECRET,
        API_KEY,
        ADMIN_TOKEN,
        "hunter2pass",
        "Sup3rS3cret!",
        "dXNlcjpwYXNzd29yZA==",
    ):
        assert secret not in text
    msgs = [e["msg"] for e in entries(out)]
    assert msgs[0] == "created subscription with secret whsec_****"
    assert msgs[1] == "request with Authorization: Bearer ****"
    assert msgs[2] == "admin call with token ****"
    assert msgs[3] == "target https://shop:****@example.com/hook failed"
    assert '"authHeaderValue": "****"' in str(msgs[4]) and "https://x.example" in str(msgs[4])


def test_ids_in_ctx_stay_and_secret_fields_are_masked(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = lines
    ctx = {
        "delivery_id": "msg_2a9f",
        "subscription_id": 12,
        "tenant": 3,
        "event_id": "ev-1",
        "authHeaderValue": "letmein-42",
        "headers": {"Authorization": f"Bearer {API_KEY}", "webhook-id": "msg_2a9f"},
        "note": f"rotated to {SECRET}",
    }
    log.info("delivered", extra={"ctx": ctx})
    (entry,) = entries(out)
    assert entry["delivery_id"] == "msg_2a9f" and entry["subscription_id"] == 12
    assert entry["tenant"] == 3 and entry["event_id"] == "ev-1"
    assert entry["authHeaderValue"] == "****"
    assert entry["headers"] == {"Authorization": "****", "webhook-id": "msg_2a9f"}
    assert entry["note"] == "rotated to whsec_****"
    assert "letmein-42" not in out.getvalue() and API_KEY not in out.getvalue()


def test_exception_text_is_masked(lines: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = lines
    try:
        raise ValueError(f"bad key {API_KEY} for {ADMIN_TOKEN}")
    except ValueError:
        log.exception("handling failed")
    (entry,) = entries(out)
    assert "ValueError: bad key hl_**** for ****" in str(entry["error"])
    assert API_KEY not in out.getvalue() and ADMIN_TOKEN not in out.getvalue()


def test_ordinary_text_is_left_alone() -> None:
    text = "delivery msg_1 to https://example.com/h?x=1 failed (HTTP 500); next hookline.retry.5s"
    assert redact(text) == text
    assert redact("subscription 12 secret rotated") == "subscription 12 secret rotated"


def test_an_error_type_named_like_a_secret_keeps_its_message() -> None:
    # InvalidSecret: the word after it used to be masked, as if it were the secret.
    for text in (
        "delivery msg_1 quarantined: InvalidSecret: signing secret has an empty key",
        "hookline.core.signing.InvalidSecret: signing secret must start with 'whsec_'",
        "retry failed (InvalidSignature: no signature matches)",
    ):
        assert redact(text) == text
    # The same names as keys, and the values after them, are still masked.
    assert redact("InvalidSecret: whsec_abc") == "InvalidSecret: whsec_****"
    assert redact("clientSecret: S3cr3t, ClientSecret: S3cr3t") == (
        "clientSecret: ****, ClientSecret: ****"
    )
    assert redact("InvalidSecret=S3cr3t secret: S3cr3t") == "InvalidSecret=**** secret: ****"


@pytest.mark.parametrize(
    "name", ["access_token", "api_token", "key", "api-key", "apiKey", "X-Amz-Signature",
             "client_secret", "refresh_token", "sig", "auth", "sessionid", "passwd"],
)  # fmt: skip
def test_a_token_in_a_target_urls_query_is_masked_whatever_its_name(name: str) -> None:
    url = f"https://hooks.example.com/h?shop=7&{name}=S3cr3tV4lue&x=1"
    text = redact(f"delivery failed (ClientResponseError: 400, url='{url}')")
    assert "S3cr3tV4lue" not in text
    assert f"?shop=7&{name}=****&x=1" in text
    assert redact_value({name: "S3cr3tV4lue", "delivery_id": "msg_1"}) == {
        name: "****",
        "delivery_id": "msg_1",
    }
