"""``hookline secrets new-key|status|rotate-key``: the keys that seal subscription secrets
at rest (docs/operations.md, key management). ``status`` and ``rotate-key`` use the API
(admin token); ``new-key`` only prints."""

from __future__ import annotations

from typing import Any

import click

from hookline.cli.apiclient import call, expect
from hookline.cli.config import Target
from hookline.core.keyring import KeyringError, new_key_entry


@click.group()
def secrets() -> None:
    """The keys that seal subscription secrets at rest."""


def _target() -> Target:
    state = click.get_current_context().find_root().obj
    target: Target = state.target
    return target


def status_lines(value: dict[str, Any]) -> list[str]:
    """Pure: the status as a person reads it, and which keys can go."""
    stored: dict[str, int] = value.get("stored", {})
    current = value.get("sealingKeyId")
    lines = [f"sealing key: {current}; keys that open: {', '.join(value.get('keyIds', []))}"]
    lines += [f"  {kid}: {n} stored secrets" for kid, n in stored.items()]
    idle = [kid for kid in value.get("keyIds", []) if kid != current and not stored.get(kid)]
    if idle:
        lines.append(f"no stored secret is under {', '.join(idle)}: it can be removed")
    left = value.get("toReseal", 0)
    if left:
        lines.append(f"{left} subscriptions to re-seal: run `hookline secrets rotate-key`")
    return lines


@secrets.command("new-key")
@click.argument("key_id")
def new_key(key_id: str) -> None:
    """Print a new random key entry, KEY_ID:base64, for HOOKLINE_SECRETS_KEYS."""
    try:
        click.echo(new_key_entry(key_id))
    except KeyringError as exc:
        raise click.BadParameter(str(exc), param_hint="KEY_ID") from exc


@secrets.command("status")
def status() -> None:
    """How many stored secrets each key seals, and which keys can be removed."""
    t = _target()
    value = expect(call(t.api_url, t.admin(), "GET", "/v2/admin/secrets"), "reading the keys")
    for line in status_lines(value["value"]):
        click.echo(line)


@secrets.command("rotate-key")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 1000))
def rotate_key(batch: int) -> None:
    """Re-seal every stored secret under the current (first) key, through the API's write
    path. Safe to stop and run again: what is sealed under the current key is skipped."""
    t = _target()
    after: int | None = 0
    checked = resealed = 0
    while after is not None:
        path = f"/v2/admin/secrets/rotate-key?after={after}&count={batch}"
        done = expect(call(t.api_url, t.admin(), "POST", path), "re-sealing")["value"]
        checked += done["checked"]
        resealed += done["resealed"]
        click.echo(f"checked {checked} subscriptions, re-sealed {resealed}", err=True)
        after = done["next"]
    click.echo(f"done: {resealed} re-sealed under {done['sealingKeyId']}, {checked} checked")
    value = expect(call(t.api_url, t.admin(), "GET", "/v2/admin/secrets"), "reading the keys")
    for line in status_lines(value["value"]):
        click.echo(line)
