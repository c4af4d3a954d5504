"""Reading a PSKC document safely: a byte limit, no DTD (so no entities, no external references), streamed.

python-pskc's own `parse` is never called (it would use lxml when that is installed). Instead:

1. `check_document`: defusedxml (DTDs, entity declarations and external references forbidden) reads the
   whole document once, building no elements, to prove it well-formed, a PSKC 1.0 container, and to
   count its key packages. A billion-laughs or XXE document stops at its `<!DOCTYPE`, before any entity
   is declared, let alone expanded; a truncated document is refused before anything is imported.
2. `children`: the C parser builds one child of the container at a time (namespaces stripped, as
   python-pskc's element parser expects), hands it out, and drops it. Its target refuses a DOCTYPE too,
   so this pass is safe on its own, whatever happened to a file between the passes.
"""

from __future__ import annotations

import hashlib
import os
import re
import xml.etree.ElementTree as ET  # only ever fed documents through _HardenedTarget
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from ...domain.errors import GatewayError

CHUNK = 1 << 16
#: The document: its bytes, its text (e.g. from a JSON request), or the path of a file.
Source = bytes | str | os.PathLike[str]


class DocumentRefused(GatewayError):
    """The whole document is refused before any key is imported: too_large, forbidden_xml, malformed_xml,
    not_pskc, unsupported_version, malformed, unsupported_encryption."""

    code = "pskc_refused"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def chunks(source: Source, limit: int) -> Iterator[bytes]:
    """The document's bytes; refused as soon as it is known to be larger than `limit`."""
    if isinstance(source, str):
        source = source.encode("utf-8")
    if isinstance(source, bytes):
        if len(source) > limit:
            raise _too_large(limit)
        view = memoryview(source)
        for start in range(0, len(source), CHUNK):
            yield bytes(view[start:start + CHUNK])
        return
    path = Path(source)
    if path.stat().st_size > limit:
        raise _too_large(limit)
    seen = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            seen += len(chunk)
            if seen > limit:  # the file grew since we looked
                raise _too_large(limit)
            yield chunk


def _too_large(limit: int) -> DocumentRefused:
    return DocumentRefused("too_large", f"the document is larger than {limit} bytes")


def _refusal(error: Exception) -> DocumentRefused:
    if isinstance(error, DocumentRefused):
        return error
    if isinstance(error, DefusedXmlException | _Forbidden):
        return DocumentRefused("forbidden_xml", "DTDs, entities and external references are not accepted")
    return DocumentRefused("malformed_xml", "the document is not well-formed XML")


#: Children of the container that python-pskc reads before the keys (RFC 6030 and its drafts).
CONTAINER_SETTINGS = frozenset({"EncryptionKey", "EncryptionMethod", "MACMethod", "DigestMethod", "MACAlgorithm"})
PACKAGES = frozenset({"KeyPackage", "Device"})


@dataclass
class Shape:
    """What the first pass learnt: the root, how many key packages, whether it is signed, its SHA-256."""

    root: str | None = None
    version: str | None = None
    packages: int = 0
    signed: bool = False
    sha256: str = ""
    depth: int = field(default=0, repr=False)
    misplaced: str | None = field(default=None, repr=False)

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > 2:
            return
        local = tag.rpartition("}")[2]
        if self.depth == 1:
            self.root, self.version = local, attrs.get("Version") or attrs.get("version")
        elif local in PACKAGES:
            self.packages += 1
        elif local == "Signature":
            self.signed = True
        elif local in CONTAINER_SETTINGS and self.packages and self.misplaced is None:
            self.misplaced = local

    def end(self, tag: str) -> None:
        self.depth -= 1

    def close(self) -> None:
        return None


def check_document(source: Source, limit: int) -> Shape:
    """Well-formed, no DTD, a PSKC 1.0 KeyContainer with its settings before its keys."""
    shape = Shape()
    digest = hashlib.sha256()
    parser = DefusedXMLParser(target=shape, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        for chunk in chunks(source, limit):
            digest.update(chunk)
            parser.feed(chunk)
        parser.close()
    except (DocumentRefused, DefusedXmlException, SyntaxError, ValueError, LookupError) as error:
        raise _refusal(error) from None  # ParseError is a SyntaxError; an unknown encoding a LookupError
    if shape.root not in ("KeyContainer", "SecretContainer"):
        raise DocumentRefused("not_pskc", "the document is not a PSKC KeyContainer")
    if shape.version not in (None, "1", "1.0"):
        raise DocumentRefused("unsupported_version", "only PSKC version 1.0 is read")
    if shape.misplaced:
        # The keys before it would be read without it: refuse rather than decrypt half a document.
        raise DocumentRefused("malformed", f"the container's {shape.misplaced} comes after its keys")
    shape.sha256 = digest.hexdigest()
    return shape


class _Forbidden(Exception):
    pass


_PLAIN_PATH = re.compile(r"[A-Za-z_][\w.-]*(?:/[A-Za-z_][\w.-]*)*")


class _Element(ET.Element):
    """An element whose `findall` of a plain child path (`Data`, `CipherData/CipherValue`) is a direct scan.

    python-pskc looks up some forty paths per key, each through ElementPath with a namespace map (sorted
    and cached on every call); namespaces are already stripped here, so walking the children is enough.
    Any other path goes to ElementPath as usual.
    """

    __slots__ = ()

    def findall(self, path: str, namespaces: dict[str, str] | None = None) -> list[Any]:  # type: ignore[override]
        steps = _STEPS.get(path)
        if steps is None:
            if not _PLAIN_PATH.fullmatch(path) or len(_STEPS) > 256:
                return super().findall(path, namespaces)
            steps = _STEPS[path] = tuple(path.split("/"))
        if len(steps) == 1:
            name = steps[0]
            return [child for child in self if child.tag == name]
        found: list[Any] = [self]
        for name in steps:
            found = [child for parent in found for child in parent if child.tag == name]
        return found


#: The plain paths python-pskc asks for, split once (they come from its code, never from a document).
_STEPS: dict[str, tuple[str, ...]] = {}


class _HardenedTarget:
    """Builds the tree with the C TreeBuilder, namespaces stripped; a DOCTYPE stops the parse at once."""

    def __init__(self) -> None:
        self.builder = ET.TreeBuilder(element_factory=_Element)
        self.data = self.builder.data
        self.depth = 0
        self.root: Any = None
        self.done: list[Any] = []

    def start(self, tag: str, attrs: dict[str, str]) -> Any:
        self.depth += 1
        element = self.builder.start(tag.rpartition("}")[2], attrs)
        if self.root is None:
            self.root = element
        return element

    def end(self, tag: str) -> Any:
        self.depth -= 1
        element = self.builder.end(tag.rpartition("}")[2])
        if self.depth == 1:
            self.done.append(element)
        return element

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _Forbidden(name)  # called at `<!DOCTYPE`, before its internal subset is read

    def close(self) -> Any:
        return self.builder.close()


def children(source: Source, limit: int) -> Iterator[Any]:
    """Each child element of the container in document order, dropped from the tree once handed out."""
    target = _HardenedTarget()
    parser = ET.XMLParser(target=target)  # noqa: S314 - the target refuses DTDs; see the module docstring
    try:
        for chunk in chunks(source, limit):
            parser.feed(chunk)
            yield from _drain(target)
        parser.close()
        yield from _drain(target)
    except (DocumentRefused, _Forbidden, SyntaxError, ValueError, LookupError) as error:
        raise _refusal(error) from None


def _drain(target: _HardenedTarget) -> Iterator[Any]:
    done, target.done = target.done, []
    for element in done:
        yield element
        target.root.remove(element)
