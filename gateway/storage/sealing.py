"""Token secrets sealed at rest with AES-256-GCM under `SEAL_KEYS`; the first key seals, all unseal."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class SealError(Exception):
    """A sealed secret that no configured key opens, or a key that is not one."""


@dataclass(frozen=True)
class SealKey:
    key_id: str
    aead: AESGCM


def _decode_key(text: str) -> bytes:
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
    if len(raw) != 32:
        raise SealError("a seal key is 32 bytes, base64url or hex")
    return raw


class Sealer:
    """Seal and unseal secrets; the associated data binds a sealed secret to its credential row."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise SealError("no seal keys configured")
        self._keys = {key_id: SealKey(key_id, AESGCM(raw)) for key_id, raw in keys}
        if len(self._keys) != len(keys):
            raise SealError("two seal keys share one id")
        self.primary_id = keys[0][0]

    @classmethod
    def from_config(cls, value: str) -> Sealer:
        """`SEAL_KEYS`: comma-separated keys, each `id:key` or a bare key (its id is derived from it)."""
        keys = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            key_id, _, text = item.rpartition(":")
            raw = _decode_key(text)
            keys.append((key_id or "k" + hashlib.sha256(raw).hexdigest()[:12], raw))
        return cls(keys)

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, secret: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return self.primary_id, nonce + self._keys[self.primary_id].aead.encrypt(nonce, secret, aad)

    def unseal(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise SealError(f"seal key {key_id} is not configured")
        try:
            return key.aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise SealError(f"sealed secret does not open with key {key_id}") from None
