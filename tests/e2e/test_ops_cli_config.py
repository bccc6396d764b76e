"""Where the ``hookline`` command finds the API, its key and Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookline.cli import config
from hookline.cli.replay import parse_since, poll_path, progress_of
from hookline.cli.tail import Filter, line_of
from hookline.core.messages import Attempt


def test_stack_env_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / ".local"
    local.mkdir()
    (local / "stack.env").write_text(
        "HOOKLINE_ADMIN_TOKEN='tok en'\nHOOKLINE_API_URL='http://127.0.0.1:8080'\n"
        "HOOKLINE_KAFKA_BOOTSTRAP='127.0.0.1:19092'\n"
    )
    monkeypatch.setattr(config, "CHECKOUT", tmp_path / "elsewhere")
    env = config.environment({"HOOKLINE_API_URL": "http://api:9/"}, cwd=tmp_path)
    assert env["HOOKLINE_ADMIN_TOKEN"] == "tok en"
    target = config.target(env, None, None)
    assert target.api_url == "http://api:9" and target.admin() == "tok en"
    assert config.target(env, "http://flag:1", "hl_flag").key() == "hl_flag"
    with pytest.raises(config.CliError, match="no API key: set HOOKLINE_API_KEY"):
        target.key()
    assert config.kafka_settings(env).kafka_bootstrap == "127.0.0.1:19092"
    assert config.kafka_settings(env).topic_prefix == "hookline"


def test_without_stack_env_the_local_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "CHECKOUT", tmp_path)
    target = config.target(config.environment({}, cwd=tmp_path), None, None)
    assert target.api_url == "http://127.0.0.1:8080" and target.api_key is None


def test_replay_progress_and_since() -> None:
    p = progress_of({"value": {"id": 4, "status": "running", "total": 10, "replayed": 3}})
    assert (p.done, p.total, p.state, p.location, p.finished) == (3, 10, "RUNNING", "4", False)
    # Hookline's API: the tenant's events in range (once DONE), processed of them, replayed
    # to the subscription.
    answer = {"value": {"url": "https://hooks.example.com/v2/event/subscription/5/replay/r1",
                        "status": "DONE", "total": 40, "processed": 40, "replayed": 7}}  # fmt: skip
    p = progress_of(answer)
    assert (p.done, p.total, p.replayed, p.finished) == (40, 40, 7, True)
    target = config.Target("http://127.0.0.1:8080", "hl_x", None)
    assert poll_path(target, 5, p.location) == "/v2/event/subscription/5/replay/r1"
    assert poll_path(target, 5, "r2") == "/v2/event/subscription/5/replay/r2"
    assert progress_of({"value": {"state": "COMPLETED", "done": 10}}).finished
    assert progress_of({"value": {"status": "FAILED"}}).failed
    assert parse_since("2026-11-25") == "2026-11-25T00:00:00Z"


def test_the_bar_shows_the_share_of_the_range_read_while_the_total_is_unknown() -> None:
    running = {"value": {"status": "RUNNING", "progress": 0.42, "total": None, "processed": 3}}
    p = progress_of(running)
    assert (p.fraction, p.total, p.percent) == (0.42, None, 42)
    assert progress_of({"value": {"status": "RUNNING", "total": 8, "processed": 2}}).percent == 25
    assert progress_of({"value": {"status": "DONE", "progress": 1.0, "total": 3}}).percent == 100
    assert parse_since("2026-11-25T12:00:00+02:00") == "2026-11-25T10:00:00Z"


def test_tail_filters_and_one_line_per_attempt() -> None:
    a = Attempt(
        delivery_id="msg_1",
        subscription_id=12,
        tenant=3,
        event="product.create",
        event_id="e1",
        attempt=2,
        at=1764100000.25,
        outcome="RETRY",
        reason="HTTP 503",
        status=503,
        latency_ms=41.6,
    )
    assert Filter(tenant=3, subscription=12, event="product.create").wants(a)
    assert not Filter(tenant=4).wants(a) and not Filter(subscription=1).wants(a)
    assert Filter(failures_only=True).wants(a)
    assert line_of(a) == (
        "2025-11-25T19:46:40.250Z  retry    503    42ms  "
        "sub=12 tenant=3 product.create msg_1 try=2  HTTP 503"
    )
