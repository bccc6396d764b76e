"""Tests for hookline.deliverer.opening: a delivery's subscription in clear, or why not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hookline.core.keyring import Keyring, new_key_entry, parse_keys
from hookline.core.messages import SubscriptionRecord
from hookline.core.sealed import seal_record
from hookline.deliverer.opening import Opener

CLEAR = SubscriptionRecord(
    id=3,
    tenant=1,
    version=0,
    events=["order.paid"],
    target_url="https://u:pw-123@hooks.example/x",
    status="ACTIVE",
    secret="whsec_c2VjcmV0",
    created_at=0.0,
    updated_at=0.0,
    auth_header_name="X-Key",
    auth_header_value="key-123",
)
KEYS = Keyring(parse_keys(new_key_entry("k1")))


def test_a_sealed_subscription_opens_and_is_kept_per_version() -> None:
    opener = Opener(KEYS)
    sealed = seal_record(CLEAR, KEYS)
    assert opener.open(sealed) == CLEAR
    assert opener.open(sealed) is opener.open(sealed)
    newer = seal_record(replace(CLEAR, version=1, auth_header_value="key-456"), KEYS)
    opened = opener.open(newer)
    assert not isinstance(opened, str) and opened.auth_header_value == "key-456"


def test_a_record_in_clear_is_used_as_it_is() -> None:
    assert Opener(KEYS).open(CLEAR) == CLEAR


@pytest.mark.parametrize("keys", [Keyring(), Keyring(parse_keys(new_key_entry("k2")))])
def test_a_key_this_deliverer_lacks_is_a_reason_not_a_crash(keys: Keyring) -> None:
    reason = Opener(keys).open(seal_record(CLEAR, KEYS))
    assert isinstance(reason, str)
    assert reason.startswith("the subscription's secrets do not open: ")
    assert "'k1'" in reason and "pw-123" not in reason and "key-123" not in reason


def test_the_kept_records_are_bounded() -> None:
    opener = Opener(KEYS, max_kept=2)
    for version in range(5):
        opener.open(seal_record(replace(CLEAR, version=version), KEYS))
    assert len(opener._opened) <= 2
