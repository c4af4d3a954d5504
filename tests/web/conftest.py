"""A test-client 'browser' that keeps cookies and fills in the form's CSRF token, like a person's browser."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import pytest

PC_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.0 Mobile/15E148 Safari/604.1")
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass
class Page:
    status: int
    text: str
    location: str | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def visible(self) -> str:
        """What a person reads: tags dropped, entities decoded, white space folded."""
        body = re.sub(r"(?s)<(script|style|head)\b.*?</\1>", " ", self.text)
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())

    def screen(self) -> str | None:
        found = re.search(r"画面ID : (\w+)", self.text)
        return found.group(1) if found else None


class Browser:
    def __init__(self, client, user_agent: str = PC_UA) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.user_agent = user_agent
        self.token: str | None = None

    def get(self, url: str, follow: bool = True) -> Page:
        response = self.client.get(url, headers={"User-Agent": self.user_agent}, follow_redirects=follow)
        return self._page(response)

    def post(self, url: str, data: dict[str, str] | None = None, follow: bool = True, csrf: bool = True) -> Page:
        body = dict(data or {})
        if csrf and self.token and "csrf_token" not in body:
            body["csrf_token"] = self.token
        response = self.client.post(url, data=body, headers={"User-Agent": self.user_agent},
                                    follow_redirects=follow)
        return self._page(response)

    def _page(self, response) -> Page:  # type: ignore[no-untyped-def]
        text = response.get_data(as_text=True)
        found = CSRF.search(text)
        if found:
            self.token = found.group(1)
        return Page(response.status_code, text, response.headers.get("Location"), dict(response.headers))

    def session_cookie(self) -> str | None:
        cookie = self.client.get_cookie("gw_session")
        return cookie.value if cookie else None


@pytest.fixture
def browser(client) -> Browser:  # type: ignore[no-untyped-def]
    return Browser(client)


@pytest.fixture
def phone(client) -> Browser:  # type: ignore[no-untyped-def]
    return Browser(client, IPHONE_UA)
