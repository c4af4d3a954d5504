"""`POST /api/v1/provision`: what a token app sends (サービスID, ユーザID, 利用開始パスワード) to get its token.

No bank key: the three values are the credential. Single use; five wrong activation passwords lock the
issuance, which is then answered like unknown IDs. Errors are RFC 9457 problem+json; no cookies are set.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..domain.errors import ActivationFailed, ActivationLocked, GatewayError, IssuanceUnavailable
from ..services import Client, issuance
from . import flow
from .context import app_services
from .limits import limiter
from .problems import problem

bp = Blueprint("provision_api", __name__, url_prefix="/api/v1")
PROBLEMS = {
    ActivationFailed: (403, "activation-failed", "The service ID, user ID or activation password is wrong."),
    # Even to the right password: a token app is told nothing the IDs alone would not tell (the set-up page,
    # for the person holding the password, says why).
    ActivationLocked: (403, "activation-failed", "The service ID, user ID or activation password is wrong."),
    IssuanceUnavailable: (409, "issuance-used", "This issuance was already set up or replaced."),
}


@bp.post("/provision")
@limiter.limit(flow.per_address)
def provision() -> Response:
    if not request.is_json:
        return problem(415, "unsupported-media-type", "Send application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return problem(400, "invalid-json", "The body is not a JSON object.")
    fields = {name: body.get(name) for name in ("service_id", "user_id", "activation_password")}
    missing = [name for name, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        return problem(422, "invalid-input", f"Missing or not a string: {', '.join(missing)}.", fields=missing)
    client = Client(actor="token-app", ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))
    try:
        provisioned = issuance.provision(app_services(), fields["service_id"], fields["user_id"],
                                         fields["activation_password"], client)
    except GatewayError as error:
        status, kind, detail = PROBLEMS.get(type(error), (403, "activation-failed", "Not accepted."))
        return problem(status, kind, detail)
    return jsonify(provisioned.as_dict())
