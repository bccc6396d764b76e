"""Tests for hookline.cli.sealing's pure part: the status as a person reads it."""

from __future__ import annotations

from hookline.cli.sealing import status_lines


def test_the_status_says_which_keys_can_go_and_what_is_left() -> None:
    lines = status_lines(
        {
            "sealingKeyId": "k2",
            "keyIds": ["k2", "k1", "k0"],
            "stored": {"clear": 2, "k1": 3, "k2": 10},
            "toReseal": 4,
        }
    )
    assert lines[0] == "sealing key: k2; keys that open: k2, k1, k0"
    assert "  k1: 3 stored secrets" in lines
    assert "no stored secret is under k0: it can be removed" in lines
    assert lines[-1] == "4 subscriptions to re-seal: run `hookline secrets rotate-key`"


def test_nothing_to_remove_or_reseal_says_nothing_of_it() -> None:
    lines = status_lines({"sealingKeyId": "k2", "keyIds": ["k2"], "stored": {"k2": 1}})
    assert lines == ["sealing key: k2; keys that open: k2", "  k2: 1 stored secrets"]
