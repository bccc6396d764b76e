"""Dialects: which source API's shape a subscription speaks (issue 13).

A subscription is one record whatever API made it; its ``dialect`` decides only the
envelope and the extra signature header of its deliveries
(``hookline.core.envelopes``). Each dialect allows the payload formats its envelope
can carry: Orderspace's envelope is the batch format, ShareActor's and Booqable's
carry one object, Tripletex's (the native one) either.
"""

from __future__ import annotations

TRIPLETEX = "tripletex"
ORDERSPACE = "orderspace"
SHAREACTOR = "shareactor"
BOOQABLE = "booqable"
DIALECTS = (TRIPLETEX, ORDERSPACE, SHAREACTOR, BOOQABLE)

_FORMATS: dict[str, tuple[str, ...]] = {
    TRIPLETEX: ("default", "batch"),
    ORDERSPACE: ("batch",),
    SHAREACTOR: ("default",),
    BOOQABLE: ("default",),
}


def formats_of(dialect: str) -> tuple[str, ...]:
    """The payload formats ``dialect`` can deliver, its own first."""
    return _FORMATS.get(dialect, _FORMATS[TRIPLETEX])


def settle_format(dialect: str, given: str | None, current: str | None) -> str | None:
    """The format a subscription has after a change of ``dialect``: the one ``given``,
    else the ``current`` one if the dialect can carry it, else the dialect's own.

    Returns None when ``given`` is one the dialect cannot carry (a client error)."""
    allowed = formats_of(dialect)
    if given is not None:
        return given if given in allowed else None
    if current is not None and current in allowed:
        return current
    return allowed[0]
