"""PC or smartphone layout: from the User-Agent (ua-parser), overridable with ?view=pc|sp (remembered)."""

from __future__ import annotations

from functools import lru_cache

from flask import g, request
from ua_parser import parse

VIEW_COOKIE = "gw_view"
VIEWS = ("pc", "sp")


@lru_cache(maxsize=2048)
def view_for_user_agent(user_agent: str) -> str:
    """Phones get the smartphone layout; desktops and tablets the PC one."""
    result = parse(user_agent)
    os_family = result.os.family if result.os else ""
    device = result.device.family if result.device else ""
    if device in ("iPad",) or "Tablet" in device:
        return "pc"
    if os_family == "iOS" or (os_family == "Android" and "Mobile" in user_agent) or "Phone" in os_family:
        return "sp"
    return "pc"


def current_view() -> str:
    if "view" in g:
        return g.view  # type: ignore[no-any-return]
    chosen = request.args.get("view")
    if chosen in VIEWS:
        g.view, g.remember_view = chosen, True
    elif request.cookies.get(VIEW_COOKIE) in VIEWS:
        g.view = request.cookies[VIEW_COOKIE]
    else:
        g.view = view_for_user_agent(request.headers.get("User-Agent", "")[:512])
    return g.view  # type: ignore[no-any-return]


def template(name: str) -> str:
    """`pc/<name>` or `sp/<name>`."""
    return f"{current_view()}/{name}"
