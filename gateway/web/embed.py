"""Embedding the registration and stop-use flows in a bank's own pages, two ways.

- **iframe** — `/b/<bank>/embed/register…` and `/b/<bank>/embed/stop…` serve the same screens as
  `/b/<bank>/register…` and `/b/<bank>/stop…`, framable by the bank's listed origins only (CSP
  `frame-ancestors`), with their own session cookie (`SameSite=None; Secure; Partitioned`, see `sessions`).
  The result page hands `{type: "otp-gateway:result", …}` to the parent with `postMessage` to the bank's
  origin (never `*`); 「戻る」 and 「ログイン画面に戻る」 post `{type: "otp-gateway:close"}`.
- **redirect** — `/b/<bank>/register?return_to=URL` (or `/stop?return_to=URL`), `URL` on the bank's list:
  「ログイン画面に戻る」 sends the customer back to `URL?otp_result=<signed result>` (`services.results`).
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ..domain.embedding import allowed_return_to, normalise_origin, with_result
from ..domain.tokens import mask_token_id
from ..services import results
from . import flow
from .context import app_services
from .layout import current_view
from .pages import bp as pages

#: The embeddable screens are the very views of the ordinary flows (`register`, `stop`), routed here as well.
bp = Blueprint("embed", __name__, url_prefix="/b/<bank_code>/embed")

Kind = Literal["register", "stop"]
RESULT_TYPE = "otp-gateway:result"
CLOSE_TYPE = "otp-gateway:close"
OUTCOME: dict[str, results.Outcome] = {"register": "registered", "stop": "stopped"}

def init_app(app: Flask) -> None:
    app.add_template_global(back_url)
    app.register_blueprint(bp)


@bp.url_value_preprocessor
def _bank(endpoint: str | None, values: dict[str, Any] | None) -> None:
    bank = flow.load_bank((values or {}).pop("bank_code", ""))
    if not bank.embed_origins:
        abort(404)  # a bank that lists no origin has no embeddable pages
    g.embed = True
    g.frame_ancestors = " ".join(bank.embed_origins)


@bp.url_defaults
def _keep_bank(endpoint: str, values: dict[str, Any]) -> None:
    if "bank_code" not in values and "bank" in g:
        values["bank_code"] = g.bank.code


@bp.before_request
def _parent_origin() -> None:
    """`?origin=` on a flow's first page names which of the bank's origins frames it (default: the first)."""
    given = request.args.get("origin")
    if given is None or request.method != "GET":
        return
    origin = normalise_origin(given)
    if origin is None or origin not in g.bank.embed_origins:
        abort(400)
    session["embed"] = {"bank": g.bank.code, "origin": origin}


@bp.get("/close")
def close() -> str:
    """「戻る」 in a frame: the flow ends here and the bank's page is told to close the frame."""
    session.pop("flow", None)
    session.pop("done", None)
    kind = request.args.get("flow")
    message = {"type": CLOSE_TYPE, "bank": g.bank.code, "flow": kind if kind in OUTCOME else None}
    return render_template("embed_close.html", screen_id="EMB001", view=current_view(), bank=g.bank,
                           embed_post={"origin": parent_origin(), "message": message})


def parent_origin() -> str:
    """The bank origin this frame's messages go to."""
    chosen = session.get("embed") or {}
    if chosen.get("bank") == g.bank.code and chosen.get("origin") in g.bank.embed_origins:
        return str(chosen["origin"])
    return str(g.bank.embed_origins[0])


def _kind() -> Kind:
    return "stop" if (request.endpoint or "").split(".")[-1].startswith("stop") else "register"


def start_endpoint() -> str:
    """Where a broken embedded flow starts over (a stale form, an expired session)."""
    return f"embed.{_kind()}"


def back_url() -> str:
    """「戻る」 / 「ログイン画面に戻る」: close the frame, go back to the bank, or the login page."""
    if g.get("embed"):
        return url_for("embed.close", flow=_kind())
    pending = session.get("return")
    if (pending and "bank" in g and pending.get("bank") == g.bank.code and request.blueprint == "pages"
            and pending.get("kind") == _kind() and (request.endpoint or "").split(".")[-1].startswith(_kind())):
        return url_for("pages.return_to_bank")
    return url_for("pages.login", bank_code=g.bank.code) if "bank" in g else url_for("home")


# --- the flows' hooks ------------------------------------------------------------------------------
def remember_return(kind: Kind) -> None:
    """On a flow's first page: keep `?return_to=` when it is on the bank's list (else 400); without it, an
    earlier redirect flow is forgotten."""
    if g.get("embed") or request.method != "GET":
        return
    url = request.args.get("return_to")
    if url is None:
        if "return" in session:
            session.pop("return")
        return
    if allowed_return_to(url, g.bank.return_urls) is None:
        current_app.logger.warning("bank %s: return_to is not on its list of return URLs", g.bank.code)
        abort(400)
    if not results.has_result_key(app_services(), g.bank.code):
        current_app.logger.warning("bank %s has no result key: otp-gateway bank result-key %s",
                                   g.bank.code, g.bank.code)
        abort(400)
    session["return"] = {"bank": g.bank.code, "kind": kind, "url": url}


def done_context(kind: Kind) -> dict[str, Any]:
    """For a result page in a frame: what `embed.js` posts to the parent (signed once, kept for reloads)."""
    if not g.get("embed"):
        return {}
    done = flow.done(kind)
    if done is None:
        return {}
    origin = parent_origin()
    signed = done.get("signed")
    if signed is None and results.has_result_key(app_services(), g.bank.code):
        signed = results.issue(app_services(), g.bank.code, flow=kind, result=OUTCOME[kind],
                               contract_id=done.get("contract_id"), token_id=_masked(done), mode="embed",
                               target=origin)
        session["done"] = {**done, "signed": signed}
    message = {"type": RESULT_TYPE, "bank": g.bank.code, "flow": kind, "result": OUTCOME[kind],
               "token_id": _masked(done), "otp_result": signed}
    return {"embed_post": {"origin": origin, "message": message}}


def _masked(done: dict[str, Any]) -> str | None:
    if done.get("token_id"):
        return mask_token_id(done["token_id"])
    return done.get("token")  # stop use keeps it masked already


@pages.get("/return")
def return_to_bank() -> Response:
    """Back to the bank's return URL with a signed result: the outcome, or `cancelled`. Once per flow."""
    pending = session.pop("return", None)
    if not pending or pending.get("bank") != g.bank.code:
        return redirect(url_for("pages.login"))
    kind: Kind = "stop" if pending.get("kind") == "stop" else "register"
    url = allowed_return_to(pending["url"], g.bank.return_urls)
    if url is None:  # taken off the list since the flow started
        abort(400)
    done = flow.done(kind)
    if done is not None:
        session.pop("done")
        outcome, contract_id, token_id = OUTCOME[kind], done.get("contract_id"), _masked(done)
    else:
        state = session.pop("flow", None) or {}
        outcome, token_id = "cancelled", None
        contract_id = state.get("contract_id") if state.get("kind") == kind and state.get("bank") == g.bank.code \
            else None
    signed = results.issue(app_services(), g.bank.code, flow=kind, result=outcome, contract_id=contract_id,
                           token_id=token_id, mode="redirect", target=url)
    return redirect(with_result(url, signed), 303)
