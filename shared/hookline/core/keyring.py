"""Sealing customer secrets at rest: AES-256-GCM under keys that carry an id.

A sealed value is one line of text, ``enc.v1.<key id>.<data>``: ``data`` is unpadded
URL-safe base64 of the 12-byte random nonce followed by the ciphertext and its 16-byte
tag. Only the characters ``A-Z a-z 0-9 - _ .`` appear, so a sealed value can stand in
a URL's user name or password as well as in a JSON string or a table cell.

Every value is sealed with a *context* (what it is and whose: ``secret/42``) as its
associated data, so a sealed value copied into another field or another subscription
does not open there: it would otherwise let a tenant who got hold of another's sealed
value have the deliverer send its clear text to their own endpoint.

The keys come from ``HOOKLINE_SECRETS_KEYS`` (or ``_FILE``): ``id:base64`` entries
separated by commas or new lines; the first seals, every one opens, so a key taken out
of first place keeps opening what it sealed until it is removed (docs/operations.md).

A value that is not sealed is returned as it is by ``Keyring.open``: records written
before sealing existed still read, and the next write of each (or
``hookline secrets rotate-key``) seals it.

Errors (``SecretsError``, a ``ValueError``): ``KeyringError`` for a bad key setting,
``NoKey`` for sealing without one, ``UnknownKeyId`` for a value sealed under a key
that is not (any longer) in the setting, ``Tampered`` for one that does not open
(altered, truncated, moved to another context, or the key under that id changed).
No message ever holds a key or a clear value.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc.v1."
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_ID = r"[A-Za-z0-9_-]{1,32}"
_KEY_ID_RE = re.compile(_KEY_ID)
TOKEN_RE = re.compile(rf"enc\.v1\.({_KEY_ID})\.([A-Za-z0-9_-]+)")


class SecretsError(ValueError):
    """A secret could not be sealed or opened."""


class KeyringError(SecretsError):
    """``HOOKLINE_SECRETS_KEYS`` cannot be used."""


class NoKey(SecretsError):
    """Sealing needs a key and none is set."""


class UnknownKeyId(SecretsError):
    """A value was sealed under a key id the keyring does not hold."""


class Tampered(SecretsError):
    """A sealed value does not open under its key and context."""


@dataclass(frozen=True)
class SecretKeys:
    """The parsed setting: ``(id, key)`` pairs, the sealing one first. Its repr shows
    the ids only."""

    keys: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(kid for kid, _ in self.keys)

    def __repr__(self) -> str:
        return f"SecretKeys(ids={self.ids!r})"


def parse_keys(raw: str) -> SecretKeys:
    """Pure: ``id:base64`` entries, separated by commas or white space (a file may hold
    one a line). Each key is 32 bytes (AES-256), in standard or URL-safe base64."""
    keys: list[tuple[str, bytes]] = []
    for n, entry in enumerate(e for e in re.split(r"[,\s]+", raw) if e):
        kid, colon, encoded = entry.partition(":")
        where = f"entry {n + 1}"
        if not colon or not _KEY_ID_RE.fullmatch(kid):
            raise KeyringError(
                f"{where} is not id:base64 (an id of 1 to 32 letters, digits, - or _)"
            )
        if kid in (k for k, _ in keys):
            raise KeyringError(f"key id {kid!r} is given twice")
        keys.append((kid, _key_bytes(kid, encoded)))
    return SecretKeys(tuple(keys))


def _key_bytes(kid: str, encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error as exc:
        raise KeyringError(f"key {kid!r} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyringError(f"key {kid!r} is {len(key)} bytes, not {KEY_BYTES}")
    return key


def new_key_entry(kid: str) -> str:
    """A new random ``id:base64`` entry for ``HOOKLINE_SECRETS_KEYS``."""
    if not _KEY_ID_RE.fullmatch(kid):
        raise KeyringError("a key id is 1 to 32 letters, digits, - or _")
    return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


@dataclass(frozen=True)
class Token:
    key_id: str
    nonce: bytes
    ciphertext: bytes  # with its tag


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def key_id_of(value: str) -> str | None:
    """Pure: the key id a value is sealed under; None for a value in clear."""
    return parse_token(value).key_id if is_sealed(value) else None


def parse_token(value: str) -> Token:
    """Pure: the parts of a sealed value; ``Tampered`` when it is not a whole one."""
    match = TOKEN_RE.fullmatch(value)
    if match is None:
        raise Tampered("a sealed value is malformed")
    data = match.group(2)
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except binascii.Error as exc:
        raise Tampered("a sealed value is malformed") from exc
    if len(raw) < NONCE_BYTES + TAG_BYTES or _b64(raw) != data:
        raise Tampered("a sealed value is malformed")
    return Token(match.group(1), raw[:NONCE_BYTES], raw[NONCE_BYTES:])


def format_token(token: Token) -> str:
    return f"{PREFIX}{token.key_id}.{_b64(token.nonce + token.ciphertext)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _aad(key_id: str, context: str) -> bytes:
    return f"{PREFIX}{key_id}|{context}".encode()


class Keyring:
    """Seals under the first key, opens under any; ``AESGCM`` objects made once."""

    def __init__(self, keys: SecretKeys | Iterable[tuple[str, bytes]] = ()) -> None:
        pairs = keys.keys if isinstance(keys, SecretKeys) else tuple(keys)
        self._ciphers = {kid: AESGCM(key) for kid, key in pairs}
        self.current_id: str | None = pairs[0][0] if pairs else None

    def __bool__(self) -> bool:
        return self.current_id is not None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def seal(self, clear: str, context: str, nonce: bytes | None = None) -> str:
        """``clear`` sealed under the current key (``nonce``: for tests only)."""
        if self.current_id is None:
            raise NoKey("no key to seal with: set HOOKLINE_SECRETS_KEYS (docs/operations.md)")
        kid = self.current_id
        nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
        sealed = self._ciphers[kid].encrypt(nonce, clear.encode(), _aad(kid, context))
        return format_token(Token(kid, nonce, sealed))

    def open(self, value: str, context: str) -> str:
        """The clear text of a sealed ``value``; a value in clear is returned as it is."""
        if not is_sealed(value):
            return value
        token = parse_token(value)
        cipher = self._ciphers.get(token.key_id)
        if cipher is None:
            raise UnknownKeyId(
                f"a value is sealed under key id {token.key_id!r}, which HOOKLINE_SECRETS_KEYS"
                " does not hold"
            )
        try:
            clear = cipher.decrypt(token.nonce, token.ciphertext, _aad(token.key_id, context))
        except InvalidTag as exc:
            raise Tampered(
                f"a value sealed under key id {token.key_id!r} does not open: altered, moved"
                " from another field, or that id's key changed"
            ) from exc
        return clear.decode()

    def is_current(self, value: str) -> bool:
        """Whether ``value`` is sealed under the current key (so re-sealing can skip it)."""
        return is_sealed(value) and key_id_of(value) == self.current_id
