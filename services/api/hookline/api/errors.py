"""What the subscription store refuses, in the API's own words; ``hookline.api.http.errors``
renders each as HTTP (and ``hookline.api.dialects.errors`` in a dialect's shape).

    hookline.core.errors.HooklineError
     ├── StoreError
     │    ├── SubscriptionNotFound  no live subscription of that id for the tenant   404
     │    ├── VersionConflict       the subscription is at another version            409
     │    ├── InvalidChange         a change that breaks a rule, with the field       422
     │    └── SecretsUnopenable     its secrets are sealed under a key this API lacks 503
     └── Unavailable                PostgreSQL or Kafka out of reach (core.errors)    503

The store raises these and ``hookline.core.errors.Unavailable`` only: never an HTTP
error, never a client's exception.
"""

from __future__ import annotations

from hookline.core.errors import HooklineError


class StoreError(HooklineError):
    """A subscription command or query the store refuses; the message is for a person."""


class SubscriptionNotFound(StoreError):
    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"subscription {subscription_id} does not exist")
        self.subscription_id = subscription_id


class VersionConflict(StoreError):
    def __init__(self, subscription_id: int, current: int, given: int) -> None:
        super().__init__(
            f"subscription {subscription_id} is at version {current}, not {given}:"
            " read it again and repeat your change"
        )
        self.subscription_id = subscription_id
        self.current = current


class InvalidChange(StoreError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class SecretsUnopenable(StoreError):
    """A subscription's secrets are sealed under a key that HOOKLINE_SECRETS_KEYS does not
    hold (taken out too early): the same call works once the operator puts it back."""

    def __init__(self, subscription_id: int) -> None:
        super().__init__(
            f"subscription {subscription_id}'s secrets cannot be opened with this API's keys"
            " (the operator's HOOKLINE_SECRETS_KEYS lacks one): try again later"
        )
        self.subscription_id = subscription_id
