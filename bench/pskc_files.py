"""PSKC (RFC 6030) seed files for the import benchmark: plaintext (written as a stream) and PBKDF2-encrypted."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pskc

TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0">\n'
)
PACKAGE = (
    "<KeyPackage><DeviceInfo><Manufacturer>Bench</Manufacturer><SerialNo>{serial}</SerialNo></DeviceInfo>"
    '<Key Id="{serial}" Algorithm="{algorithm}"><AlgorithmParameters><ResponseFormat Length="6" '
    'Encoding="DECIMAL"/></AlgorithmParameters><Data><Secret><PlainValue>{secret}</PlainValue></Secret>'
    "<TimeInterval><PlainValue>30</PlainValue></TimeInterval></Data></Key></KeyPackage>\n"
)


def secret(index: int) -> bytes:
    return hashlib.sha1(f"pskc-bench-{index}".encode()).digest()


def serial(prefix: str, index: int) -> str:
    return f"{prefix}{index:08d}"


def plaintext(path: Path, count: int, prefix: str = "PSKP") -> Path:
    """`count` plaintext TOTP keys, written key by key (a million fits in constant memory)."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEAD)
        for i in range(count):
            handle.write(PACKAGE.format(serial=serial(prefix, i), algorithm=TOTP,
                                        secret=base64.b64encode(secret(i)).decode()))
        handle.write("</KeyContainer>\n")
    return path


def pbkdf2(path: Path, count: int, password: str, prefix: str = "PSKE", iterations: int = 1000) -> Path:
    """`count` TOTP keys encrypted under a PBKDF2-derived key, with a MAC, written by python-pskc."""
    container = pskc.PSKC()
    for i in range(count):
        key = container.add_key(id=serial(prefix, i), serial=serial(prefix, i), secret=secret(i),
                                algorithm=TOTP, response_length=6)
        key.time_interval = 30
    container.encryption.setup_pbkdf2(password, iterations=iterations)
    container.write(str(path))
    return path
