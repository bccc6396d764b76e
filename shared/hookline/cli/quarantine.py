"""``hookline quarantine list|redrive``: what the consumers set aside (admin token)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import click

from hookline.cli.apiclient import call, expect
from hookline.cli.config import Target

REASON_CHARS = 70


def line_of(entry: dict[str, Any]) -> str:
    """Pure: one entry on one line: id, when, service, where it was read, tenant, reason."""
    where = f"{entry['topic']}[{entry['partition']}]@{entry['offset']}"
    state = "redriven" if entry.get("redrivenAt") else "held"
    reason = str(entry.get("reason", ""))
    if len(reason) > REASON_CHARS:
        reason = reason[: REASON_CHARS - 1] + "…"
    return (
        f"{entry['id']:>6}  {entry['quarantinedAt']}  {entry['service']:<15} {state:<8}"
        f" {where}  tenant={entry.get('tenant') or '-'}  {reason}"
    )


@click.group()
def quarantine() -> None:
    """Records the consumers could not process: list and re-drive them (admin token)."""


def _target() -> Target:
    state = click.get_current_context().find_root().obj
    target: Target = state.target
    return target


@quarantine.command("list")
@click.option("--tenant", help="Only this tenant's.")
@click.option("--service", help="Only what this service set aside (router, deliverer...).")
@click.option("--held", is_flag=True, help="Only those not re-driven yet.")
@click.option("--count", default=50, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON as it is.")
def quarantine_list(
    *, tenant: str | None, service: str | None, held: bool, count: int, as_json: bool
) -> None:
    """List the quarantine, newest first, with the reason and where each was read."""
    query: dict[str, str] = {"count": str(count)}
    query.update({k: v for k, v in (("tenant", tenant), ("service", service)) if v})
    if held:
        query["redriven"] = "false"
    t = _target()
    path = "/v2/admin/quarantine?" + urlencode(query)
    body = expect(call(t.api_url, t.admin(), "GET", path), "listing the quarantine")
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    for entry in body.get("values", []):
        click.echo(line_of(entry))
    click.echo(f"{body.get('count', 0)} of {body.get('fullResultSize', 0)}", err=True)


@quarantine.command("redrive")
@click.argument("entry_id", type=click.IntRange(min=1))
@click.option("--value", help="A fixed value (JSON) to send instead of the original.")
def quarantine_redrive(entry_id: int, value: str | None) -> None:
    """Put quarantined record ENTRY-ID back on the topic it was read from."""
    body: Any = None
    if value is not None:
        try:
            body = {"value": json.loads(value)}
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--value") from exc
    t = _target()
    path = f"/v2/admin/quarantine/{entry_id}/redrive"
    done = expect(call(t.api_url, t.admin(), "POST", path, body), "re-driving it")["value"]
    click.echo(f"re-drove {done['id']} to {done['topic']}")
