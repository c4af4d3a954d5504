"""Who may frame a bank's pages and where a customer may be sent back to: exact origins and return URLs.

Anything unusual — user info, a fragment, back-slashes, dot segments, a scheme-relative or relative URL,
non-ASCII host names — is refused rather than interpreted, so that what we check is what a browser follows.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit

#: The query parameter that carries the signed result to the bank's return URL.
RESULT_PARAM = "otp_result"
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
_DOT_SEGMENTS = {".", "..", "%2e", "%2e%2e", ".%2e", "%2e."}


def _parts(url: str) -> tuple[str, str, int, str, str] | None:
    """(scheme, host, port, path, query) of an absolute http(s) URL we are willing to send a customer to."""
    if not url or len(url) > 2000 or _UNSAFE.search(url) or not url.isascii():
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not url.lower().startswith(scheme + "://"):
        return None
    if "@" in parts.netloc or parts.fragment or "#" in url or not _HOST.fullmatch(host):
        return None
    if not parts.path.startswith("/") or any(s.lower() in _DOT_SEGMENTS for s in parts.path.split("/")):
        return None
    return scheme, host, port or (443 if scheme == "https" else 80), parts.path, parts.query


def normalise_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case, the default port dropped; None when `origin` is not exactly that."""
    if not origin or origin != origin.strip() or origin.endswith("/"):
        return None
    parts = _parts(origin + "/")
    if parts is None or parts[3] != "/" or parts[4] or "?" in origin:
        return None
    scheme, host, port, _, _ = parts
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + ("" if port == default else f":{port}")


def valid_return_url(url: str) -> bool:
    """A URL an operator may list: absolute http(s) with a path, no user info, query or fragment."""
    parts = _parts(url)
    return parts is not None and not parts[4] and "?" not in url


def allowed_return_to(url: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    """`url` when it is one of the bank's return URLs — scheme, host, port and path equal; the bank may add
    its own query string — else None."""
    wanted = _parts(url)
    if wanted is None or RESULT_PARAM in _query_names(wanted[4]):
        return None
    for entry in allowed:
        listed = _parts(entry)
        if listed is not None and listed[:4] == wanted[:4]:
            return url
    return None


def _query_names(query: str) -> set[str]:
    """The names in a query as a bank's framework may read them: percent-decoded (twice, for a proxy that
    decodes once more), `+` as a space, case and surrounding spaces ignored, `.`, `[` and spaces as PHP
    turns them into `_`, an array suffix (`name[]`, `name[x]`) cut. `&` and `;` both separate pairs."""
    names = set()
    for pair in re.split(r"[&;]", query):
        name = pair.split("=", 1)[0]
        for _ in range(2):
            name = unquote_plus(name)
        name = name.strip().lower().split("[", 1)[0].strip()
        names.add(re.sub(r"[ .]", "_", name))
    return names


def with_result(url: str, token: str) -> str:
    """The return URL with the signed result appended as `otp_result`."""
    separator = "&" if urlsplit(url).query else ("" if url.endswith("?") else "?")
    return f"{url}{separator}{RESULT_PARAM}={token}"
