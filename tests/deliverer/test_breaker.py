"""Tests for hookline.deliverer.breaker: the circuit breaker's states, with a given clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.deliverer.breaker import Admission, Breaker, endpoint_of, shows_endpoint_down


def test_closed_until_the_threshold_of_failures_in_a_row() -> None:
    b = Breaker(threshold=3, cooldown_s=10)
    for _ in range(2):
        assert b.admit(0) is Admission.SEND
        b.record(0, down=True)
    assert b.admit(0) is Admission.SEND
    b.record(1, down=False)  # an answer resets the run
    for _ in range(2):
        b.record(2, down=True)
    assert not b.is_open
    b.record(2, down=True)
    assert b.is_open
    assert b.admit(5) is Admission.DEFER
    assert b.wait_s(5) == pytest.approx(7)


def test_one_probe_after_the_cooldown_and_the_others_wait_for_it() -> None:
    b = Breaker(threshold=1, cooldown_s=10)
    b.record(0, down=True)
    assert b.admit(9.9) is Admission.DEFER
    assert b.admit(10) is Admission.PROBE
    assert b.admit(10) is Admission.DEFER  # the probe is in flight
    b.record(11, down=False, probe=True)
    assert b.admit(11) is Admission.SEND
    assert b.idle


def test_a_failed_probe_opens_the_circuit_for_another_cooldown() -> None:
    b = Breaker(threshold=5, cooldown_s=10)
    for _ in range(5):
        b.record(0, down=True)
    assert b.admit(10) is Admission.PROBE
    b.record(12, down=True, probe=True)
    assert b.admit(21) is Admission.DEFER
    assert b.admit(22) is Admission.PROBE


def test_an_abandoned_probe_lets_another_go() -> None:
    b = Breaker(threshold=1, cooldown_s=1)
    b.record(0, down=True)
    assert b.admit(2) is Admission.PROBE
    b.abandon_probe()
    assert b.admit(2) is Admission.PROBE


def test_an_answer_in_flight_when_the_circuit_opened_closes_it() -> None:
    b = Breaker(threshold=1, cooldown_s=100)
    b.record(0, down=True)
    b.record(1, down=False)
    assert b.admit(1) is Admission.SEND


@pytest.mark.parametrize(
    ("status", "sent", "down"),
    [
        (None, True, True),  # timeout, refused, reset
        (None, False, False),  # never sent: the address was refused by policy
        (502, True, True),
        (503, True, True),
        (504, True, True),
        (500, True, False),
        (404, True, False),
        (429, True, False),
        (200, True, False),
    ],
)
def test_what_counts_against_an_endpoint(status: int | None, sent: bool, down: bool) -> None:
    assert shows_endpoint_down(status, sent) is down


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://Example.com/hook", "example.com:443"),
        ("http://example.com/hook", "example.com:80"),
        ("https://user:pw@example.com:8443/x?token=1", "example.com:8443"),
        ("http://[::1]:9000/", "[::1]:9000"),
    ],
)
def test_endpoint_is_host_and_port(url: str, endpoint: str) -> None:
    assert endpoint_of(url) == endpoint


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 5)), max_size=60))
def test_never_more_than_one_probe_at_a_time(events: list[tuple[bool, float]]) -> None:
    """Whatever the answers, at most one probe is out while the circuit is open."""
    b = Breaker(threshold=2, cooldown_s=3)
    now = 0.0
    probes_out = 0
    for down, step in events:
        now += step
        admission = b.admit(now)
        if admission is Admission.PROBE:
            probes_out += 1
            assert probes_out == 1
        if admission is not Admission.DEFER:
            b.record(now, down=down, probe=admission is Admission.PROBE)
            if admission is Admission.PROBE:
                probes_out -= 1
        if b.is_open:
            assert b.open_until is not None and b.open_until <= now + 3
