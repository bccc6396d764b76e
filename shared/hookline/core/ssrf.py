"""Which target addresses deliveries may connect to (server-side request forgery policy).

Pure: no DNS. The deliverer resolves the host itself at connect time and checks each
resolved address with :func:`is_public_address`; :func:`check_host_literal` rejects
hosts that are unacceptable before any lookup (IP literals and ``localhost``).
:func:`check_target_url` judges a whole target URL as aiohttp will connect to it
(scheme, host syntax, IP literals), for every attempt: aiohttp never calls the
resolver for an IP literal, so the resolver's check alone would let them through.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import yarl

__all__ = ["TargetNotAllowed", "check_host_literal", "check_target_url", "is_public_address"]


class TargetNotAllowed(ValueError):
    """A webhook target URL or the address it resolves to is not allowed."""


IPAddress = IPv4Address | IPv6Address

# Blocked on top of what ``ipaddress`` flags, so the policy does not depend on the
# Python patch release (``is_global`` / ``is_private`` tables changed within 3.11).
_BLOCKED_V4 = tuple(
    IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT); also Alibaba metadata
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, including 169.254.169.254 cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments (Oracle metadata is 192.0.0.192)
        "192.0.2.0/24",  # documentation
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, including 255.255.255.255
    )
)
_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
_BLOCKED_V6 = tuple(
    IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments, including Teredo 2001::/32
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
# Prefixes whose last 32 bits are an IPv4 address the packet ends up at.
_NAT64_V6 = (IPv6Network("64:ff9b::/96"), IPv6Network("64:ff9b:1::/48"))

_METADATA = frozenset({IPv4Address("169.254.169.254"), IPv6Address("fd00:ec2::254")})

_REASONS: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("cloud metadata", lambda a: a in _METADATA),
    ("unspecified", lambda a: a.is_unspecified),
    ("loopback", lambda a: a.is_loopback),
    ("link-local", lambda a: a.is_link_local),
    ("multicast", lambda a: a.is_multicast),
    ("shared address space", lambda a: a in IPv4Network("100.64.0.0/10")),
    ("reserved", lambda a: a.is_reserved),
    ("private", lambda a: a.is_private),
)


def _embedded_ipv4(addr: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 IPv6 address leads to."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if any(addr in net for net in _NAT64_V6):
        return IPv4Address(int(addr) & 0xFFFF_FFFF)
    return addr.sixtofour


def _is_public_v4(addr: IPv4Address) -> bool:
    return addr.is_global and not addr.is_multicast and not any(addr in n for n in _BLOCKED_V4)


def _is_public_v6(addr: IPv6Address) -> bool:
    return (
        addr in _GLOBAL_UNICAST_V6
        and addr.is_global
        and not any(addr in n for n in _BLOCKED_V6)
        and not (addr.is_private or addr.is_reserved or addr.is_multicast)
    )


def _is_public(addr: IPAddress) -> bool:
    if isinstance(addr, IPv4Address):
        return _is_public_v4(addr)
    if addr.scope_id:
        return False  # a zone index only makes sense for link-local addresses
    embedded = _embedded_ipv4(addr)
    if embedded is not None:
        return _is_public_v4(embedded)
    return _is_public_v6(addr)


def is_public_address(ip: str) -> bool:
    """True only if ``ip`` is a global unicast address a webhook may be sent to.

    Rejects loopback, private, link-local (including 169.254.169.254 cloud metadata),
    multicast, reserved, unspecified, shared (100.64.0.0/10), documentation and
    benchmarking ranges, unique-local IPv6 (fc00::/7, e.g. fd00::/8), IPv6 outside
    2000::/3, and IPv4-mapped, NAT64 or 6to4 IPv6 addresses of non-public IPv4 ones.
    A string that is not an IP address is not public (False), never an error.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return _is_public(addr)


def _why_not_public(addr: IPAddress) -> str:
    if isinstance(addr, IPv6Address):
        if addr.scope_id:
            return "scoped"
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            return f"maps to {embedded}, {_why_not_public(embedded)}"
    for label, test in _REASONS:
        if test(addr):
            return label
    return "not global unicast"


# A host whose last label is a number is an IPv4 address to URL parsers (WHATWG) and to
# inet_aton, which also reads "127.1", "0x7f.0.0.1", "0177.0.0.1" and "2130706433".
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


def _parse_literal(name: str, host: str) -> IPAddress | str | None:
    """The address of an IP-literal host, a reason if it is a malformed one, else None."""
    bracketed = name.startswith("[") and name.endswith("]")
    literal = name[1:-1] if bracketed else name
    try:
        addr = ipaddress.ip_address(literal)
    except ValueError:
        if bracketed or ":" in literal:
            return f"{host} is not a valid IPv6 address"
        if _NUMERIC_LABEL.fullmatch(literal.rsplit(".", 1)[-1]):
            return f"{host} is not a canonical dotted-quad IPv4 address"
        return None
    if bracketed and isinstance(addr, IPv4Address):
        return f"{host} is not a valid IPv6 address"
    return addr


def check_host_literal(host: str) -> str | None:
    """Why a URL host may not be used as a webhook target, or None if it may.

    Judges only what needs no DNS: ``localhost`` and ``*.localhost``, IPv4 literals
    and bracketed IPv6 literals (brackets optional). Numeric hosts that are not a
    canonical dotted quad (``127.1``, ``0x7f000001``) are refused as ambiguous. Any
    other host name returns None; its resolved addresses are the caller's to check.
    """
    name = host.strip().rstrip(".").lower()
    if not name:
        return "empty host"
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host} is a loopback name"
    parsed = _parse_literal(name, host)
    if isinstance(parsed, str):
        return parsed
    if parsed is None or _is_public(parsed):
        return None
    return f"{parsed} is not a public address ({_why_not_public(parsed)})"


def check_target_url(url: str, *, allow_http: bool, allow_private: bool) -> str | None:
    """Why a delivery may not be sent to ``url`` under this policy, or None if it may.

    The URL is parsed by yarl, as aiohttp will parse it to connect: a host it cannot
    encode (a soft hyphen, U+00AD, say) can never be sent to. The scheme is checked
    again (https, and http only when allowed), and unless private targets are allowed
    the host must not be a loopback name or a non-public IP literal. A host name's
    resolved addresses are the resolver's to check, when the connection is made.
    """
    try:
        parsed = yarl.URL(url)
        host = parsed.raw_host
    except (ValueError, TypeError) as exc:
        return f"the target URL cannot be used: {exc}"
    schemes = ("https", "http") if allow_http else ("https",)
    if parsed.scheme not in schemes:
        return f"the scheme {parsed.scheme!r} is not allowed (only {' or '.join(schemes)})"
    if not host:
        return "the target URL has no host"
    if allow_private:
        return None
    return check_host_literal(host)
