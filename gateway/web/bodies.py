"""JSON request bodies, one way through the code: what cannot be parsed into text is malformed JSON.

`json.loads` runs out of stack on `[[[[…]]]]` thousands deep and raises RecursionError, which is not a
ValueError: `request.get_json(silent=True)` would let it escape as a 500. And it decodes the escape of a
lone surrogate (`"\\ud800"`) into a string no text has, which cannot be encoded, stored or hashed: such a
body is refused too, as I-JSON (RFC 7493) asks. The app's JSON provider (`JSONProvider`, set as `app.json`)
and verify (`web.api.verify`, which answers without Flask) both parse with `loads`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask.json.provider import DefaultJSONProvider

__all__ = ["JSONProvider", "dumps", "encode", "loads"]


#: The escape of a surrogate: only where one is written can a parsed string hold a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(data: str | bytes, **kwargs: Any) -> Any:
    """`json.loads`, with nesting too deep for the parser, or a lone surrogate, refused as a ValueError like
    any malformed JSON."""
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(value):
        raise ValueError("JSON string with a lone surrogate")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any string in `value` (keys too) holds a surrogate that is not half of a pair (a pair's
    escapes decode into one character). Iterative: parsed JSON may be hundreds deep."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def dumps(value: Any) -> str:
    """The one JSON encoding of every answer: compact, keys sorted, ASCII (dates as Flask writes them)."""
    return json.dumps(value, default=DefaultJSONProvider.default, ensure_ascii=True, sort_keys=True,
                      separators=(",", ":"))


def encode(value: Any) -> bytes:
    """A response body: `dumps` and a newline, as `flask.jsonify` writes it with this app's provider."""
    return (dumps(value) + "\n").encode("ascii")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON for this app: parsing through `loads` (every `get_json`), writing through `dumps`
    (every `jsonify`), so a body is the same bytes whichever way it is answered."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse `s`; JSON nested too deeply is a ValueError."""
        return loads(s, **kwargs)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """`dumps`, whatever Flask asks for (it asks for indentation in debug mode)."""
        return dumps(obj)
