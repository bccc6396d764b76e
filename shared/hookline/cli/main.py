"""The ``hookline`` command: one click group, one function per command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import click

from hookline.cli import receive as receiver
from hookline.cli import replay as replays
from hookline.cli import tail as tails
from hookline.cli import topics as topic_plans
from hookline.cli.apiclient import call, expect
from hookline.cli.config import CHECKOUT, CliError, Target, environment, kafka_settings, target
from hookline.cli.quarantine import quarantine
from hookline.cli.sealing import secrets

HELP = """Run, use and watch Hookline.

\b
Where it finds things, first match wins:
  API:    --api-url, HOOKLINE_API_URL, .local/stack.env, http://127.0.0.1:8080
  key:    --api-key, HOOKLINE_API_KEY (a tenant's key, for publish/subscriptions/replay)
  admin:  HOOKLINE_ADMIN_TOKEN, .local/stack.env (for tenants create)
  Kafka:  HOOKLINE_KAFKA_* (bootstrap, security), HOOKLINE_TOPIC_PREFIX, .local/stack.env
          (for tail and topics plan)
.local/stack.env is read from the current directory, else from this checkout.
"""


@dataclass(frozen=True)
class State:
    env: dict[str, str]
    target: Target


def _state() -> State:
    state = click.get_current_context().find_object(State)
    assert state is not None
    return state


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-url", metavar="URL", help="The API's base URL.")
@click.option("--api-key", metavar="KEY", help="A tenant's API key (prefer HOOKLINE_API_KEY).")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, api_key: str | None) -> None:
    env = environment()
    ctx.obj = State(env=env, target=target(env, api_url, api_key))


def main() -> None:
    cli(prog_name="hookline")


cli.add_command(quarantine)
cli.add_command(secrets)


# --- the local stack -------------------------------------------------------------------


def _make(goal: str) -> None:
    if not (CHECKOUT / "Makefile").is_file():
        raise CliError(f"`hookline {goal}` runs `make {goal}` in a Hookline checkout; none here")
    done = subprocess.run(["make", "-C", str(CHECKOUT), goal], check=False)
    if done.returncode != 0:
        raise SystemExit(done.returncode)


@cli.command()
def up() -> None:
    """Start Kafka, PostgreSQL and the four services (`make up`).

    Returns when all are healthy and writes .local/stack.env.
    """
    _make("up")


@cli.command()
def down() -> None:
    """Stop everything `hookline up` started (`make down`)."""
    _make("down")


@cli.command()
def dashboard() -> None:
    """Print the dashboard's address; open it and sign in with your API key."""
    click.echo(f"{_state().target.api_url}/dashboard")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9000, show_default=True, help="Port to listen on.")
@click.option("--secret", help="The subscription's whsec_ secret, to check signatures.")
@click.option("--status", default=200, show_default=True, help="The status to answer.")
def receive(host: str, port: int, secret: str | None, status: int) -> None:
    """Run a webhook receiver that prints every delivery (for trying Hookline out).

    \b
    hookline receive --secret whsec_...   # then subscribe http://127.0.0.1:9000/hook
    """
    receiver.run(host, port, secret, status)


# --- tenants ---------------------------------------------------------------------------


@cli.group()
def tenants() -> None:
    """Tenants and their API keys (needs the admin token)."""


@tenants.command("create")
@click.argument("name")
def tenants_create(name: str) -> None:
    """Create tenant NAME and print its API key (shown once)."""
    t = _state().target
    body = expect(
        call(t.api_url, t.admin(), "POST", "/v2/admin/tenants", {"name": name}), "creating a tenant"
    )
    value = body["value"]
    click.echo(f"tenant {value['id']} ({value['name']}); its API key, shown once:")
    click.echo(f"export HOOKLINE_API_KEY={value['apiKey']}")


# --- publishing ------------------------------------------------------------------------


def _json_arg(text: str, what: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {text[1:]}: {exc}", param_hint=what) from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=what) from exc


@cli.command()
@click.argument("event")
@click.option("--id", "object_id", help="The object's id (a number or a string).")
@click.option("--value", default=None, help="The object as JSON, @FILE or - for stdin.")
@click.option("--event-id", help="Your id for this event; the same id twice is one event.")
@click.option("--version", "object_version", type=int, help="The object's version.")
def publish(
    event: str,
    *,
    object_id: str | None,
    value: str | None,
    event_id: str | None,
    object_version: int | None,
) -> None:
    """Publish one EVENT (such as product.create) for a tenant's subscribers.

    \b
    hookline publish product.create --id 42 --value '{"id": 42, "name": "Widget"}'
    """
    body: dict[str, Any] = {"event": event}
    if object_id is not None:
        body["id"] = int(object_id) if object_id.isdigit() else object_id
    if value is not None:
        body["value"] = _json_arg(value, "--value")
    if event_id is not None:
        body["eventId"] = event_id
    if object_version is not None:
        body["version"] = object_version
    t = _state().target
    answer = expect(
        call(t.api_url, t.key(), "POST", "/v2/event/publish", body), "publishing the event"
    )
    click.echo(_accepted(answer, event))


def _accepted(answer: Any, event: str) -> str:
    values = answer.get("values") if isinstance(answer, dict) else None
    value = answer.get("value") if isinstance(answer, dict) else None
    first = (values or [value or {}])[0]
    event_id = first.get("eventId") if isinstance(first, dict) else None
    return f"published {event}" + (f" as {event_id}" if event_id else "")


# --- subscriptions ---------------------------------------------------------------------


@cli.group()
def subscriptions() -> None:
    """List and create the subscriptions of the tenant whose API key you use."""


@subscriptions.command("list")
@click.option("--status", help="Only this status, such as ACTIVE or DISABLED.")
@click.option("--event", help="Only subscriptions to this event type.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON as it is.")
def subscriptions_list(status: str | None, event: str | None, as_json: bool) -> None:
    """List subscriptions, newest first: id, status, events and target URL."""
    query = "&".join(f"{k}={v}" for k, v in (("status", status), ("event", event)) if v)
    t = _state().target
    path = "/v2/event/subscription" + (f"?{query}" if query else "")
    body = expect(call(t.api_url, t.key(), "GET", path), "listing subscriptions")
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    values = body.get("values", [])
    click.echo(f"{'ID':>6}  {'STATUS':<24} {'EVENTS':<32} TARGET")
    for s in values:
        events = ",".join(s.get("events") or [s.get("event") or ""])
        click.echo(f"{s['id']:>6}  {s['status']:<24} {events:<32} {s['targetUrl']}")
    click.echo(f"{len(values)} of {body.get('fullResultSize', len(values))}", err=True)


@subscriptions.command("create")
@click.option(
    "--event", "events", multiple=True, required=True, help="An event type; repeat for more."
)
@click.option("--target-url", required=True, help="Where deliveries are POSTed (https).")
@click.option("--fields", help="Which fields to send, e.g. 'id,name,orderLines(id)'.")
@click.option("--format", "fmt", type=click.Choice(["default", "batch"]), help="Payload format.")
@click.option("--auth-header-name", help="A header sent with every delivery ...")
@click.option("--auth-header-value", help="... and its value (stored, never shown again).")
def subscriptions_create(
    *,
    events: tuple[str, ...],
    target_url: str,
    fields: str | None,
    fmt: str | None,
    auth_header_name: str | None,
    auth_header_value: str | None,
) -> None:
    """Subscribe TARGET-URL to events; prints the id and the signing secret (once)."""
    body: dict[str, Any] = {"targetUrl": target_url}
    body.update({"event": events[0]} if len(events) == 1 else {"events": list(events)})
    optional = {
        "fields": fields,
        "format": fmt,
        "authHeaderName": auth_header_name,
        "authHeaderValue": auth_header_value,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    t = _state().target
    created = expect(
        call(t.api_url, t.key(), "POST", "/v2/event/subscription", body), "creating it"
    )["value"]
    click.echo(f"subscription {created['id']} ({created['status']}) -> {created['targetUrl']}")
    click.echo(f"signing secret, shown once: {created['secret']}")


# --- topics ---------------------------------------------------------------------------


@cli.group()
def topics() -> None:
    """The topics Hookline uses, for a platform that provisions them."""


@topics.command("plan")
@click.option(
    "--format",
    "form",
    type=click.Choice(["commands", "strimzi"]),
    default="commands",
    show_default=True,
    help="kafka-topics.sh commands, or Strimzi KafkaTopic manifests.",
)
@click.option("--cluster", default="my-cluster", show_default=True, help="Strimzi cluster name.")
@click.option("--namespace", help="Namespace of the KafkaTopic objects.")
def topics_plan(form: str, cluster: str, namespace: str | None) -> None:
    """Print what to create so that HOOKLINE_CREATE_TOPICS=0 starts.

    Names, partitions, replicas and configs follow HOOKLINE_TOPIC_PREFIX,
    HOOKLINE_PARTITIONS, HOOKLINE_REPLICATION_FACTOR, HOOKLINE_RETRY_DELAYS and
    HOOKLINE_DEDUP_WINDOW, as the services will check them at start.

    \b
    hookline topics plan > topics.sh
    hookline topics plan --format strimzi --cluster prod | kubectl apply -f -
    """
    settings = kafka_settings(_state().env)
    if form == "strimzi":
        click.echo(topic_plans.strimzi(settings, cluster, namespace), nl=False)
    else:
        click.echo(topic_plans.commands(settings), nl=False)


# --- watching --------------------------------------------------------------------------


@cli.command()
@click.option("--tenant", type=int, help="Only this tenant's attempts.")
@click.option("--subscription", type=int, help="Only this subscription's attempts.")
@click.option("--event", help="Only attempts of this event type.")
@click.option("--failures", is_flag=True, help="Only attempts that did not succeed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--max", "limit", type=click.IntRange(min=1), help="Stop after this many.")
@click.option("--timeout", type=float, help="Stop after this many seconds.")
def tail(
    *,
    tenant: int | None,
    subscription: int | None,
    event: str | None,
    failures: bool,
    as_json: bool,
    limit: int | None,
    timeout: float | None,
) -> None:
    """Follow delivery attempts as they happen (reads hookline.attempts from its end).

    Each line: time, outcome, HTTP status, latency, subscription, tenant, event,
    delivery id (the receiver's webhook-id), attempt number and reason.
    """
    settings = kafka_settings(_state().env)
    keep = tails.Filter(tenant, subscription, event, failures)
    show = tails.json_of if as_json else tails.line_of
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one stops following
        asyncio.run(tails.follow(settings, keep, show, limit=limit, timeout_s=timeout))


@cli.command()
@click.argument("subscription_id", type=int)
@click.option("--since", required=True, help="Replay events from this ISO 8601 time on.")
@click.option("--timeout", type=float, help="Give up following after this many seconds.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between progress checks.")
def replay(subscription_id: int, since: str, timeout: float | None, poll: float) -> None:
    """Deliver a subscription's events since a time again, with a progress bar.

    \b
    hookline replay 12 --since 2026-11-25T10:00:00Z
    """
    t = _state().target
    first = replays.start(t, subscription_id, replays.parse_since(since))
    final = replays.follow(t, subscription_id, first, interval_s=poll, timeout_s=timeout)
    if final.failed:
        raise CliError(f"the replay ended {final.state} after {final.done} events")
    click.echo(
        f"replayed {final.replayed} events to subscription {subscription_id}"
        f" ({final.done} looked at)"
    )
