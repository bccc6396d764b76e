"""The store's errors and the one renderer's answer to each."""

from __future__ import annotations

import pytest

from hookline.api.errors import InvalidChange, StoreError, SubscriptionNotFound, VersionConflict
from hookline.api.http.errors import ApiError, api_error_of, unavailable_of
from hookline.core.errors import DatabaseUnavailable, HooklineError, KafkaUnavailable


@pytest.mark.parametrize(
    ("error", "status", "code", "message"),
    [
        (SubscriptionNotFound(7), 404, "not_found", "subscription 7 does not exist"),
        (
            VersionConflict(7, 3, 2),
            409,
            "conflict",
            "subscription 7 is at version 3, not 2: read it again and repeat your change",
        ),
        (InvalidChange("format", "must be json"), 422, "validation_failed", "format: must be json"),
    ],
)
def test_each_store_error_has_its_answer(
    error: StoreError, status: int, code: str, message: str
) -> None:
    assert isinstance(error, HooklineError) and not isinstance(error, ApiError)
    answer = api_error_of(error)
    assert (answer.status, answer.code, answer.message) == (status, code, message)


def test_an_invalid_change_names_its_field() -> None:
    body = api_error_of(InvalidChange("format", "must be json")).body()
    assert body["validationMessages"] == [{"field": "format", "message": "must be json"}]


def test_the_stores_outages_answer_503_with_retry_after() -> None:
    for outage, says in (
        (DatabaseUnavailable("down"), "database"),
        (KafkaUnavailable("down"), "Kafka"),
    ):
        answer = unavailable_of(outage)
        assert answer is not None and answer.status == 503 and says in answer.message
        assert answer.headers == {"Retry-After": "5"}
