"""What the partner API's calls share: strict JSON bodies and the problems that say what is wrong with them.

Bodies are checked exactly as the OpenAPI document describes them (`gateway/web/openapi.json`): an
unknown member, a wrong type or a value outside its pattern is a 422 `invalid-input` problem naming the
fields, before any service is called. Token IDs and codes go through the same normalisation as the pages'
forms (`domain.tokens`): what a customer may type on the login page, a bank's own UI may pass on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from ...domain import errors, tokens
from ..problems import problem, too_large

__all__ = ["Invalid", "ProblemRaised", "guarded", "json_object", "members", "string", "typed"]

CONTRACT_ID = re.compile(r"[0-9A-Za-z]{1,32}")


class Invalid(Exception):
    """Input that does not match the documented schema: the names of the offending fields."""

    def __init__(self, fields: Iterable[str], detail: str) -> None:
        super().__init__(detail)
        self.fields = sorted(set(fields))
        self.detail = detail

    def response(self) -> Response:
        return problem(422, "invalid-input", self.detail, fields=self.fields)


def json_object(allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, Any]:
    """The request's JSON object with only `allowed` members and every `required` one.

    Raises ProblemRaised (415 not JSON, 400 not an object) or Invalid (422).
    """
    if not request.is_json:
        raise ProblemRaised(problem(415, "unsupported-media-type", "Send application/json."))
    limit = request.max_content_length
    try:
        if request.content_length is None and limit is not None and len(request.get_data()) >= limit:
            # A body sent without a length (chunked) was cut at the limit while being read.
            raise ProblemRaised(too_large(limit))
    except RequestEntityTooLarge:  # ...or refused when read past it
        raise ProblemRaised(too_large(limit or 0)) from None
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ProblemRaised(problem(400, "invalid-json", "The body is not a JSON object."))
    members(body, allowed, required)
    return body


def members(body: dict[str, Any], allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    """Raise Invalid naming the members of `body` not `allowed`, else the `required` ones it lacks."""
    known = set(allowed)
    unknown = [name for name in body if name not in known]
    if unknown:
        raise Invalid(unknown, f"Unknown members: {', '.join(sorted(map(str, unknown)))}.")
    missing = [name for name in required if name not in body]
    if missing:
        raise Invalid(missing, f"Missing: {', '.join(missing)}.")


class ProblemRaised(Exception):
    """A ready problem response, raised from a helper and returned by the view."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def string(body: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None, *, max_length: int = 256,
           min_length: int = 1, nullable: bool = False) -> str | None:
    """A string member (absent → None); raises Invalid when its type, length or pattern is wrong."""
    if name not in body:
        return None
    value = body[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise Invalid([name], f"{name}: must be a string.")
    if not min_length <= len(value) <= max_length:
        raise Invalid([name], f"{name}: between {min_length} and {max_length} characters.")
    if pattern is not None and not pattern.fullmatch(value):
        raise Invalid([name], f"{name}: does not have the documented format.")
    return value


def typed(body: dict[str, Any], name: str, normalise: Callable[[str], str]) -> str | None:
    """A string member as a person typed it, normalised as the forms do (`normalise_token_id`,
    `normalise_otp`); raises Invalid naming this member when the normalised value is malformed."""
    value = string(body, name, max_length=tokens.MAX_INPUT)
    if value is None:
        return None
    try:
        return normalise(value)
    except errors.InvalidInput as error:
        raise Invalid([name], f"{name}: {error.reason}.") from None


def contract_id_of(value: str) -> str:
    """A path's contract ID: 1–32 ASCII letters and digits."""
    if not CONTRACT_ID.fullmatch(value):
        raise Invalid(["contract_id"], "contract_id: 1–32 letters and digits.")
    return value


def domain_invalid(error: errors.InvalidInput) -> Response:
    """A service's own syntax check failed (e.g. a code of the wrong length for this token)."""
    return problem(422, "invalid-input", f"{error.field}: {error.reason}.", fields=[error.field])


def guarded(view: Callable[..., Response]) -> Callable[..., Response]:
    """Turn the helpers' exceptions into their problem responses."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except ProblemRaised as raised:
            return raised.response
        except Invalid as invalid:
            return invalid.response()
        except errors.UnknownCustomer:
            return unknown_customer()
        except errors.InvalidInput as error:
            return domain_invalid(error)

    return wrapper


def unknown_customer() -> Response:
    """The same answer whether the contract ID belongs to another bank or to none."""
    return problem(404, "unknown-customer", "This bank has no customer with that contract ID.")
