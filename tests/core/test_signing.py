"""Tests for hookline.core.signing (Standard Webhooks signatures)."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.core.signing import (
    InvalidSecret,
    generate_secret,
    secret_key,
    sign,
    signature_header,
    verify,
    webhook_headers,
)

# The test vector published with the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

secrets_st = st.binary(min_size=1, max_size=64).map(
    lambda key: "whsec_" + base64.b64encode(key).decode()
)
msg_ids = st.text(min_size=1, max_size=40)
timestamps = st.integers(min_value=0, max_value=2**40)
bodies = st.binary(max_size=512)


def test_spec_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_spec_vector_verifies() -> None:
    assert verify(
        SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE, now=SPEC_TIMESTAMP
    )


def test_generate_secret_shape() -> None:
    secret = generate_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    assert len(secret_key(secret)) == 32
    assert generate_secret() != secret


def test_secret_key_decodes() -> None:
    assert secret_key("whsec_" + base64.b64encode(b"key bytes").decode()) == b"key bytes"


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "whsec_",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  # bad padding
        "whsec_not base64!",
        "whsec_-_-_",  # URL-safe alphabet is not the standard one
    ],
)
def test_secret_key_rejects_malformed(secret: str) -> None:
    with pytest.raises(InvalidSecret) as info:
        secret_key(secret)
    assert isinstance(info.value, ValueError)
    assert "whsec_" in str(info.value) or "empty" in str(info.value)


def test_invalid_secret_message_does_not_leak_secret() -> None:
    with pytest.raises(InvalidSecret) as info:
        secret_key("whsec_sEcReT!!")
    assert "sEcReT" not in str(info.value)


def test_sign_rejects_malformed_secret() -> None:
    with pytest.raises(InvalidSecret):
        sign("nope", SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)


def test_signature_header_one_per_secret_in_order() -> None:
    other = generate_secret()
    header = signature_header([other, SPEC_SECRET], SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)
    parts = header.split(" ")
    assert parts == [sign(other, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE]


def test_signature_header_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one"):
        signature_header([], SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)


def test_signature_header_rejects_bare_string() -> None:
    with pytest.raises(TypeError):
        signature_header(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)


def test_webhook_headers() -> None:
    headers = webhook_headers([SPEC_SECRET], SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers == {
        "webhook-id": SPEC_MSG_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_rotation_both_secrets_verify() -> None:
    new, old = generate_secret(), generate_secret()
    header = signature_header([new, old], "msg_1", 1000, b"{}")
    assert verify(new, "msg_1", 1000, b"{}", header, now=1000)
    assert verify(old, "msg_1", 1000, b"{}", header, now=1000)
    assert not verify(generate_secret(), "msg_1", 1000, b"{}", header, now=1000)


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        (SPEC_TIMESTAMP, True),
        (SPEC_TIMESTAMP + 300, True),
        (SPEC_TIMESTAMP - 300, True),
        (SPEC_TIMESTAMP + 301, False),
        (SPEC_TIMESTAMP - 301, False),
        (SPEC_TIMESTAMP + 86400, False),
    ],
)
def test_verify_tolerance(now: int, ok: bool) -> None:
    assert (
        verify(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE, now=now) is ok
    )


def test_verify_custom_tolerance() -> None:
    args = (SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE)
    assert verify(*args, now=SPEC_TIMESTAMP + 10, tolerance_s=10)
    assert not verify(*args, now=SPEC_TIMESTAMP + 11, tolerance_s=10)


@pytest.mark.parametrize(
    "header",
    [
        SPEC_SIGNATURE,
        f"v1,AAAA {SPEC_SIGNATURE}",
        f"{SPEC_SIGNATURE} v1,AAAA",
        f"v1a,xyz  {SPEC_SIGNATURE}",  # other versions are skipped, extra spaces tolerated
        f"  {SPEC_SIGNATURE}  ",
    ],
)
def test_verify_accepts_any_matching_entry(header: str) -> None:
    assert verify(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, header, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize(
    "header",
    [
        "",
        " ",
        "v1,",
        "v1,AAAA",
        SPEC_SIGNATURE[3:],  # no version
        "v2," + SPEC_SIGNATURE[3:],  # wrong version
        SPEC_SIGNATURE.replace("v1,", "v1a,"),
        SPEC_SIGNATURE + "x",
        SPEC_SIGNATURE.lower(),
        "v1,é" + SPEC_SIGNATURE[4:],  # non-ASCII must not raise
    ],
)
def test_verify_rejects_bad_headers(header: str) -> None:
    assert not verify(
        SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, header, now=SPEC_TIMESTAMP
    )


def test_verify_raises_on_malformed_own_secret() -> None:
    with pytest.raises(InvalidSecret):
        verify("bad", "m", 1, b"", "v1,AAAA", now=1)


@given(secret=secrets_st, msg_id=msg_ids, timestamp=timestamps, body=bodies)
def test_round_trip(secret: str, msg_id: str, timestamp: int, body: bytes) -> None:
    header = signature_header([secret], msg_id, timestamp, body)
    assert verify(secret, msg_id, timestamp, body, header, now=timestamp)


@given(secret=secrets_st, msg_id=msg_ids, timestamp=timestamps, body=bodies)
def test_signature_shape(secret: str, msg_id: str, timestamp: int, body: bytes) -> None:
    signature = sign(secret, msg_id, timestamp, body)
    version, _, digest = signature.partition(",")
    assert version == "v1"
    assert len(base64.b64decode(digest, validate=True)) == 32


@given(
    secret=secrets_st,
    msg_id=msg_ids,
    timestamp=timestamps,
    body=bodies,
    extra=st.binary(min_size=1, max_size=8),
)
def test_tampered_body_fails(
    secret: str, msg_id: str, timestamp: int, body: bytes, extra: bytes
) -> None:
    header = sign(secret, msg_id, timestamp, body)
    assert not verify(secret, msg_id, timestamp, body + extra, header, now=timestamp)


@given(
    secret=secrets_st,
    msg_id=msg_ids,
    timestamp=timestamps,
    body=bodies.filter(bool),
    data=st.data(),
)
def test_flipped_body_bit_fails(
    secret: str, msg_id: str, timestamp: int, body: bytes, data: st.DataObject
) -> None:
    header = sign(secret, msg_id, timestamp, body)
    index = data.draw(st.integers(0, len(body) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = bytearray(body)
    tampered[index] ^= 1 << bit
    assert not verify(secret, msg_id, timestamp, bytes(tampered), header, now=timestamp)


@given(secret=secrets_st, msg_id=msg_ids, other_id=msg_ids, timestamp=timestamps, body=bodies)
def test_tampered_msg_id_fails(
    secret: str, msg_id: str, other_id: str, timestamp: int, body: bytes
) -> None:
    header = sign(secret, msg_id, timestamp, body)
    assert verify(secret, other_id, timestamp, body, header, now=timestamp) is (other_id == msg_id)


@given(secret=secrets_st, timestamp=timestamps, delta=st.integers(-300, 300), body=bodies)
def test_tampered_timestamp_fails(secret: str, timestamp: int, delta: int, body: bytes) -> None:
    header = sign(secret, "msg", timestamp, body)
    # Within tolerance of ``now``, so only the signature can reject it.
    assert verify(secret, "msg", timestamp + delta, body, header, now=timestamp) is (delta == 0)


@given(secret=secrets_st, other=secrets_st, body=bodies)
def test_other_secret_fails(secret: str, other: str, body: bytes) -> None:
    header = sign(secret, "msg", 1, body)
    assert verify(other, "msg", 1, body, header, now=1) is (secret_key(other) == secret_key(secret))


@given(
    secret=secrets_st,
    timestamp=timestamps,
    skew=st.integers(-(10**6), 10**6),
    tolerance=st.integers(0, 3600),
)
def test_tolerance_property(secret: str, timestamp: int, skew: int, tolerance: int) -> None:
    header = sign(secret, "msg", timestamp, b"x")
    ok = verify(secret, "msg", timestamp, b"x", header, now=timestamp + skew, tolerance_s=tolerance)
    assert ok is (abs(skew) <= tolerance)
