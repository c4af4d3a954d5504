"""The common key package — plain values, no policy — read without python-pskc's generic path lookups.

Bulk seed files are mostly key packages of one shape: device info, one key with its algorithm
parameters and plain data. python-pskc looks up some forty paths per key through ElementPath, which is
most of an import's time. `read_plain_package` walks such a package directly and fills the same
python-pskc `Device` and `Key` attributes its parser would (a test holds the two to the same result);
anything else (encrypted values, policies, dates, legacy names, repeated or unknown elements) returns
None and goes through python-pskc's parser.
"""

from __future__ import annotations

import base64
from typing import Any

from pskc import PSKC
from pskc.device import Device
from pskc.parser import plain2int

#: Element → attribute, for the leaf elements read as text.
DEVICE_FIELDS = {"Manufacturer": "manufacturer", "SerialNo": "serial", "Model": "model", "IssueNo": "issue_no",
                 "DeviceBinding": "device_binding", "UserId": "device_userid"}
KEY_FIELDS = {"Issuer": "issuer", "KeyProfileId": "key_profile", "KeyReference": "key_reference",
              "FriendlyName": "friendly_name", "UserId": "key_userid"}
DATA_FIELDS = {"Secret": "secret", "Counter": "counter", "Time": "time_offset", "TimeInterval": "time_interval",
               "TimeDrift": "time_drift"}
KEY_ATTRIBUTES = {"Id", "Algorithm"}
RESPONSE_ATTRIBUTES = {"Length", "Encoding"}


class _Unusual(Exception):
    """The package is not of the common shape: python-pskc's parser reads it."""


def read_plain_package(pskc: PSKC, element: Any) -> Device | None:
    """The device of a plain, single-key package as python-pskc's parser would build it; None otherwise."""
    try:
        return _read(pskc, element)
    except (_Unusual, ValueError, TypeError):  # a bad value: let python-pskc's parser have its say
        return None


def _read(pskc: PSKC, element: Any) -> Device:
    if element.tag != "KeyPackage" or element.attrib:
        raise _Unusual
    device_values: dict[str, Any] = {}
    crypto_module: str | None = None
    key_element = None
    seen: set[str] = set()
    for part in element:
        tag = part.tag
        if tag in seen or (part.attrib and tag != "Key"):
            raise _Unusual
        seen.add(tag)
        if tag == "DeviceInfo":
            device_values = _leaves(part, DEVICE_FIELDS)
        elif tag == "CryptoModuleInfo":
            crypto_module = _leaves(part, {"Id": "id"}).get("id")
        elif tag == "Key":
            key_element = part
        else:
            raise _Unusual
    if key_element is None or not set(key_element.attrib) <= KEY_ATTRIBUTES:
        raise _Unusual
    key_values: dict[str, Any] = {}
    data_values: dict[str, Any] = {}
    seen = set()
    for part in key_element:
        tag = part.tag
        if tag in seen:
            raise _Unusual
        seen.add(tag)
        if tag in KEY_FIELDS:
            key_values[KEY_FIELDS[tag]] = _text(part)
        elif tag == "AlgorithmParameters" and not part.attrib:
            key_values.update(_parameters(part))
        elif tag == "Data" and not part.attrib:
            data_values = _data(part)
        else:
            raise _Unusual
    device = Device(pskc)
    for name, value in device_values.items():
        setattr(device, name, value)
    device.crypto_module = crypto_module
    key = device.add_key()
    key.id = key_element.get("Id") or None
    key.algorithm = key_element.get("Algorithm") or None
    for name, value in (key_values | data_values).items():
        setattr(key, name, value)
    return device


def _text(leaf: Any) -> str | None:
    """As python-pskc's `findtext`: the stripped text, None when there is none."""
    if len(leaf) or leaf.attrib:
        raise _Unusual
    text = leaf.text
    return text.strip() if text else None


def _leaves(parent: Any, fields: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for leaf in parent:
        name = fields.get(leaf.tag)
        if name is None or name in values:
            raise _Unusual
        values[name] = _text(leaf)
    return values


def _parameters(parent: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for part in parent:
        if part.tag == "Suite" and "algorithm_suite" not in values:
            values["algorithm_suite"] = _text(part)
        elif part.tag == "ResponseFormat" and "response_length" not in values \
                and not len(part) and set(part.attrib) <= RESPONSE_ATTRIBUTES:
            length = part.get("Length")
            values["response_encoding"] = part.get("Encoding") or None
            values["response_length"] = (int(length) if length else None) or None
        else:
            raise _Unusual
    return values


def _data(parent: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for part in parent:
        name = DATA_FIELDS.get(part.tag)
        if name is None or name in values or part.attrib or len(part) != 1 or part[0].tag != "PlainValue":
            raise _Unusual
        text = _text(part[0])
        if text is not None:
            values[name] = base64.b64decode(text) if name == "secret" else plain2int(text)
    return values
