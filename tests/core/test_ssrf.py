"""Tests for hookline.core.ssrf (which target addresses deliveries may reach)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.core.ssrf import (
    TargetNotAllowed,
    check_host_literal,
    check_target_url,
    is_public_address,
)

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.1",  # just above
    "100.63.255.255",  # just below 100.64/10
    "100.128.0.1",  # just above
    "169.253.255.255",
    "11.0.0.1",
    "223.255.255.254",
    "2606:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001:81c::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public address
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]

NOT_PUBLIC = [
    # IPv4
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # shared address space
    "100.100.100.200",  # Alibaba metadata, inside 100.64/10
    "100.127.255.255",
    "0.0.0.0",
    "0.1.2.3",
    "192.0.0.1",
    "192.0.0.192",  # Oracle metadata
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    # IPv6
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "::127.0.0.1",  # deprecated IPv4-compatible
    "::ffff:0:127.0.0.1",  # IPv4-translated
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "fd00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fc00::1",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",  # deprecated site-local
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "2001::1",  # Teredo
    "2001:10::1",
    "3fff::1",
    "100::1",  # discard-only
    "4000::1",  # outside 2000::/3
    # Not addresses at all
    "",
    "localhost",
    "example.com",
    "127.1",
    "2130706433",
    "010.0.0.1",
    "[::1]",
    "8.8.8.8 ",
]


@pytest.mark.parametrize("ip", PUBLIC)
def test_public(ip: str) -> None:
    assert is_public_address(ip)


@pytest.mark.parametrize("ip", NOT_PUBLIC)
def test_not_public(ip: str) -> None:
    assert not is_public_address(ip)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "127.0.0.1 is not a public address (loopback)"),
        ("[::1]", "::1 is not a public address (loopback)"),
        ("::1", "::1 is not a public address (loopback)"),
        ("10.0.0.1", "10.0.0.1 is not a public address (private)"),
        ("172.16.0.1", "172.16.0.1 is not a public address (private)"),
        ("192.168.1.1", "192.168.1.1 is not a public address (private)"),
        ("169.254.169.254", "169.254.169.254 is not a public address (cloud metadata)"),
        ("169.254.1.1", "169.254.1.1 is not a public address (link-local)"),
        ("100.64.0.1", "100.64.0.1 is not a public address (shared address space)"),
        ("0.0.0.0", "0.0.0.0 is not a public address (unspecified)"),
        ("[::]", ":: is not a public address (unspecified)"),
        ("224.0.0.1", "224.0.0.1 is not a public address (multicast)"),
        ("[ff02::1]", "ff02::1 is not a public address (multicast)"),
        ("240.0.0.1", "240.0.0.1 is not a public address (reserved)"),
        ("[fd00::1]", "fd00::1 is not a public address (private)"),
        ("[fd00:ec2::254]", "fd00:ec2::254 is not a public address (cloud metadata)"),
        (
            "[::ffff:127.0.0.1]",
            "::ffff:7f00:1 is not a public address (maps to 127.0.0.1, loopback)",
        ),
        (
            "[64:ff9b::a9fe:a9fe]",
            "64:ff9b::a9fe:a9fe is not a public address (maps to 169.254.169.254, cloud metadata)",
        ),
        ("[fe80::1%25eth0]", "fe80::1%25eth0 is not a public address (scoped)"),
        ("[2001:db8::1]", "2001:db8::1 is not a public address (private)"),
        ("[3fff::1]", "3fff::1 is not a public address (not global unicast)"),
        ("localhost", "localhost is a loopback name"),
        ("LocalHost", "LocalHost is a loopback name"),
        ("localhost.", "localhost. is a loopback name"),
        ("api.localhost", "api.localhost is a loopback name"),
        ("a.b.LOCALHOST.", "a.b.LOCALHOST. is a loopback name"),
        ("127.1", "127.1 is not a canonical dotted-quad IPv4 address"),
        ("2130706433", "2130706433 is not a canonical dotted-quad IPv4 address"),
        ("0x7f000001", "0x7f000001 is not a canonical dotted-quad IPv4 address"),
        ("0x7f.0.0.1", "0x7f.0.0.1 is not a canonical dotted-quad IPv4 address"),
        ("0177.0.0.1", "0177.0.0.1 is not a canonical dotted-quad IPv4 address"),
        ("8.8.8.08", "8.8.8.08 is not a canonical dotted-quad IPv4 address"),
        ("1.2.3.4.5", "1.2.3.4.5 is not a canonical dotted-quad IPv4 address"),
        ("example.0x10", "example.0x10 is not a canonical dotted-quad IPv4 address"),
        ("[127.0.0.1]", "[127.0.0.1] is not a valid IPv6 address"),
        ("[not-an-ip]", "[not-an-ip] is not a valid IPv6 address"),
        ("[::1", "[::1 is not a valid IPv6 address"),
        ("", "empty host"),
        ("   ", "empty host"),
        (".", "empty host"),
    ],
)
def test_check_host_literal_refuses(host: str, reason: str) -> None:
    assert check_host_literal(host) == reason


@pytest.mark.parametrize(
    "host",
    [
        "8.8.8.8",
        "8.8.8.8.",
        "[2606:4700::1111]",
        "2606:4700::1111",
        "[::ffff:8.8.8.8]",
        "example.com",
        "hooks.example.com.",
        "localhost.example.com",  # only the .localhost TLD is special
        "mylocalhost",
        "1.2.3.com",
        "127.0.0.1.nip.io",  # a DNS name: its resolved address is checked at connect time
        "xn--bcher-kva.example",
    ],
)
def test_check_host_literal_allows(host: str) -> None:
    assert check_host_literal(host) is None


def test_target_not_allowed_is_value_error() -> None:
    with pytest.raises(ValueError, match="nope"):
        raise TargetNotAllowed("nope")


@given(st.ip_addresses())
def test_host_literal_agrees_with_is_public(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    host = f"[{addr}]" if addr.version == 6 else str(addr)
    assert (check_host_literal(host) is None) is is_public_address(str(addr))


EMBEDDING_V4 = [
    ipaddress.ip_network(n)
    for n in ("::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16")
]


@given(st.ip_addresses())
def test_public_implies_global(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    embeds_v4 = addr.version == 6 and any(addr in net for net in EMBEDDING_V4)
    if is_public_address(str(addr)) and not embeds_v4:
        assert addr.is_global
        assert not (addr.is_private or addr.is_loopback or addr.is_link_local)
        assert not (addr.is_multicast or addr.is_reserved or addr.is_unspecified)


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_agrees_with_ipv4(addr: ipaddress.IPv4Address) -> None:
    assert is_public_address(f"::ffff:{addr}") is is_public_address(str(addr))


@given(st.text(max_size=30))
def test_never_raises(text: str) -> None:
    assert isinstance(is_public_address(text), bool)
    result = check_host_literal(text)
    assert result is None or isinstance(result, str)


# --- check_target_url: what the deliverer judges before every attempt -------------------

STRICT = {"allow_http": False, "allow_private": False}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::1]:8443/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "maps to 127.0.0.1"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://169.254.169.254/latest", "cloud metadata"),
        ("https://localhost/hook", "loopback name"),
        ("https://127.1/hook", "canonical dotted-quad"),
        ("http://example.com/hook", "scheme 'http' is not allowed"),
        ("ftp://example.com/hook", "scheme 'ftp' is not allowed"),
        ("https://exa\u00admple.com/hook", "cannot be used"),  # soft hyphen
        ("https:///hook", "no host"),
        ("https://example.com:99999/hook", "cannot be used"),
    ],
)
def test_check_target_url_refuses(url: str, says: str) -> None:
    reason = check_target_url(url, **STRICT)
    assert reason is not None and says in reason


@pytest.mark.parametrize(
    "url",
    ["https://example.com/hook", "https://8.8.8.8/x", "https://[2606:4700::1111]/x"],
)
def test_check_target_url_allows_public_targets(url: str) -> None:
    assert check_target_url(url, **STRICT) is None


def test_check_target_url_follows_the_policy() -> None:
    assert check_target_url("http://127.0.0.1:9/x", allow_http=True, allow_private=True) is None
    assert "loopback" in str(
        check_target_url("http://127.0.0.1/", allow_http=True, allow_private=False)
    )
    assert "scheme" in str(
        check_target_url("http://127.0.0.1/", allow_http=False, allow_private=True)
    )
    # A host aiohttp cannot send to is refused whatever the policy allows.
    loose = {"allow_http": True, "allow_private": True}
    assert check_target_url("https://exa\u00admple.com/", **loose) is not None


@given(st.ip_addresses())
def test_check_target_url_agrees_with_is_public(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    host = f"[{addr}]" if addr.version == 6 else str(addr)
    refused = check_target_url(f"https://{host}/hook", **STRICT) is not None
    assert refused is not is_public_address(str(addr))


@given(st.text(max_size=40))
def test_check_target_url_never_raises(text: str) -> None:
    result = check_target_url(f"https://{text}/x", **STRICT)
    assert result is None or isinstance(result, str)
