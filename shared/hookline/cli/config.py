"""Where the CLI finds the API and Kafka: options, then ``HOOKLINE_*`` variables, then
the ``.local/stack.env`` that ``make up`` writes (in the current directory or in this
checkout), then the defaults of a local stack."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from hookline.core.config import SettingError, Settings

# shared/hookline/cli/config.py -> the checkout's root, where the Makefile is.
CHECKOUT = Path(__file__).resolve().parents[3]
STACK_ENV = Path(".local") / "stack.env"
DEFAULT_API_URL = "http://127.0.0.1:8080"


class CliError(click.ClickException):
    """Something the user can fix; the message says what. click prints it and exits 1."""


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY='value'`` lines as ``make up`` writes them (shell quoting)."""
    found: dict[str, str] = {}
    for raw_line in path.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        words = shlex.split(raw) or [""]
        found[key.strip().removeprefix("export ").strip()] = words[0]
    return found


def stack_env(cwd: Path | None = None) -> dict[str, str]:
    for base in (cwd or Path.cwd(), CHECKOUT):
        path = base / STACK_ENV
        if path.is_file():
            return read_env_file(path)
    return {}


def environment(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> dict[str, str]:
    """The variables the CLI goes by: ``env`` (default: the process's) over stack.env."""
    return {**stack_env(cwd), **(os.environ if env is None else env)}


@dataclass(frozen=True)
class Target:
    api_url: str
    api_key: str | None
    admin_token: str | None

    def key(self) -> str:
        if not self.api_key:
            raise CliError(
                "no API key: set HOOKLINE_API_KEY (or pass --api-key); "
                "`hookline tenants create NAME` issues one"
            )
        return self.api_key

    def admin(self) -> str:
        if not self.admin_token:
            raise CliError("no admin token: set HOOKLINE_ADMIN_TOKEN (make up writes it)")
        return self.admin_token


def target(env: Mapping[str, str], api_url: str | None, api_key: str | None) -> Target:
    return Target(
        api_url=(api_url or env.get("HOOKLINE_API_URL") or DEFAULT_API_URL).rstrip("/"),
        api_key=api_key or env.get("HOOKLINE_API_KEY") or None,
        admin_token=env.get("HOOKLINE_ADMIN_TOKEN") or None,
    )


def kafka_settings(env: Mapping[str, str]) -> Settings:
    """The services' own settings (bootstrap, topic prefix) from the same variables."""
    known = {k: v for k, v in env.items() if k.startswith("HOOKLINE_")}
    try:
        return Settings.from_env(known)
    except SettingError as exc:
        raise CliError(f"bad setting: {exc}") from exc
