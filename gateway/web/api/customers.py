"""Partner API: a bank's customers and the token bound to each (`/api/v1/customers/{contract_id}…`).

Every call reaches only the key's bank: a contract ID of another bank is answered exactly like one that
exists nowhere (404 `unknown-customer`), and a token ID of another bank like an unknown token.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Response, g, jsonify, request, url_for

from ...domain import errors
from ...domain.tokens import normalise_otp, normalise_token_id
from ...services import credentials, customer_records, customers, removal
from ..context import app_services
from ..problems import problem
from .blueprint import bp, client
from .common import Invalid, contract_id_of, guarded, json_object, string, typed

#: Registration outcomes that are a conflict with the customer's or the token's state (SPEC §6: 409).
CONFLICTS: dict[type[errors.GatewayError], tuple[str, str]] = {
    errors.AlreadyRegistered: ("already-registered", "The customer already has an active token."),
    errors.TokenAlreadyAssigned: ("token-already-assigned", "The token is bound to another customer."),
    errors.ReregistrationTooSoon: ("reregistration-too-soon", "The customer stopped OTP use too recently."),
    errors.NotRegistered: ("not-registered", "The customer has no active token."),
}
#: Removal refused by the bank's policy (`code`: the token's code is needed on every path).
CODE_REQUIRED = ("code-required", "This bank's removal policy needs the token's code: send {\"otp\": …}.")
#: Tokens that cannot be registered (SPEC §6: 422).
UNUSABLE: dict[type[errors.GatewayError], tuple[str, str]] = {
    errors.UnknownToken: ("unknown-token", "This bank has no token with that ID."),
    errors.TokenRevoked: ("token-revoked", "The token was revoked or has expired."),
    errors.TokenLocked: ("token-locked", "The token is locked after too many wrong codes; unlock it first."),
    errors.ResyncFailed: ("resync-failed", "The two codes are not consecutive codes of this token."),
}


def customer_json(view: customers.CustomerView) -> dict[str, Any]:
    """Customer and OTP status (the view's own fields, `locked` said as `status`); the token ID only masked."""
    fields = view.as_dict()
    fields["status"] = "locked" if fields.pop("locked") else "active"
    return fields


def outcome_problem(error: errors.GatewayError) -> Response:
    """The problem for a registration, stop-use or resync outcome other than success."""
    for kinds, status in ((CONFLICTS, 409), (UNUSABLE, 422)):
        for cls, (kind, detail) in kinds.items():
            if isinstance(error, cls):
                extra: dict[str, Any] = {}
                if isinstance(error, errors.ReregistrationTooSoon):
                    extra["allowed_on"] = error.allowed_on.isoformat()
                return problem(status, kind, detail, **extra)
    if isinstance(error, errors.CodeRequired):
        return problem(422, *CODE_REQUIRED)
    if isinstance(error, errors.CodeRejected):
        extra = {"reason": error.code}
        if isinstance(error, errors.OutOfSync):
            extra["clock_skew_steps"] = error.offset_steps
        if isinstance(error, errors.Throttled):
            extra["retry_after"] = round(error.retry_after, 3)
        response = problem(422, "code-rejected", "The code was not accepted.", **extra)
        if isinstance(error, errors.Throttled):
            response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
        return response
    raise error


@bp.get("/customers/<contract_id>")
@guarded
def get_customer(contract_id: str) -> Response:
    """Customer and OTP status, masked token ID."""
    view = customers.show_customer(app_services(), g.api_bank.code, contract_id_of(contract_id))
    return jsonify(customer_json(view))


@bp.put("/customers/<contract_id>")
@guarded
def put_customer(contract_id: str) -> Response:
    """Create (201) or update (200) a customer: passwords, e-mail, status."""
    contract_id = contract_id_of(contract_id)
    body = json_object(("password", "confirmation_password", "email", "status"))
    status = string(body, "status", max_length=16)
    if status is not None and status not in customer_records.STATUSES:
        raise Invalid(["status"], "status: active or locked.")
    change = customer_records.CustomerChange(
        password=string(body, "password", max_length=32),
        confirmation_password=string(body, "confirmation_password", max_length=12),
        email=string(body, "email", max_length=customer_records.EMAIL_MAX, nullable=True)
        if "email" in body else customer_records.UNSET,
        status=status,
    )
    result = customer_records.put_customer(app_services(), g.api_bank.code, contract_id, change, client())
    response = jsonify(customer_json(result.customer))
    if result.created:
        response.status_code = 201
        response.headers["Location"] = url_for("partner_api.get_customer", contract_id=contract_id)
    return response


@bp.post("/customers/<contract_id>/credential")
@guarded
def register_credential(contract_id: str) -> Response:
    """Bind an available token of this bank with a valid code as proof of possession."""
    contract_id = contract_id_of(contract_id)
    body = json_object(("credential_id", "otp"), ("credential_id", "otp"))
    token_id, otp = typed(body, "credential_id", normalise_token_id), typed(body, "otp", normalise_otp)
    assert token_id is not None and otp is not None
    try:
        bound = credentials.register(app_services(), g.api_bank.code, contract_id, token_id, otp, client())
    except (errors.UnknownCustomer, errors.InvalidInput):
        raise
    except errors.GatewayError as error:
        return outcome_problem(error)
    response = jsonify({
        "credential_id": bound.credential_id,
        "contract_id": contract_id,
        "state": bound.state,
        "kind": bound.kind,
        "algorithm": bound.algorithm,
        "digits": bound.digits,
        "period": bound.period,
        "bound_at": bound.bound_at.isoformat().replace("+00:00", "Z") if bound.bound_at else None,
    })
    response.status_code = 201
    response.headers["Location"] = url_for("partner_api.get_customer", contract_id=contract_id)
    return response


@bp.delete("/customers/<contract_id>/credential")
@guarded
def stop_credential(contract_id: str) -> Response:
    """Stop use: the active token is unlinked and revoked at once, as the bank's removal policy allows
    (`code`: the body carries the token's code, `{"otp": …}`); the customer gets a notice mail."""
    contract_id = contract_id_of(contract_id)
    body = json_object(("otp",)) if request.content_length or request.is_json else {}
    svc = app_services()
    try:
        removal.stop_use(svc, g.api_bank.code, contract_id, client(), via=removal.API,
                         otp=typed(body, "otp", normalise_otp))
    except (errors.UnknownCustomer, errors.InvalidInput):
        raise
    except errors.GatewayError as error:
        return outcome_problem(error)
    return jsonify(customer_json(customers.show_customer(svc, g.api_bank.code, contract_id)))


@bp.post("/customers/<contract_id>/unlock")
@guarded
def unlock_customer(contract_id: str) -> Response:
    """Clear the password lockout and the active token's OTP lockout."""
    view = customers.unlock_customer(app_services(), g.api_bank.code, contract_id_of(contract_id), client())
    return jsonify(customer_json(view))


@bp.post("/customers/<contract_id>/credential/resync")
@guarded
def resync_credential(contract_id: str) -> Response:
    """Two consecutive codes re-centre the active token's drift."""
    contract_id = contract_id_of(contract_id)
    body = json_object(("otp1", "otp2"), ("otp1", "otp2"))
    otp1, otp2 = typed(body, "otp1", normalise_otp), typed(body, "otp2", normalise_otp)
    assert otp1 is not None and otp2 is not None
    try:
        accepted = credentials.resync(app_services(), g.api_bank.code, contract_id, otp1, otp2, client())
    except (errors.UnknownCustomer, errors.InvalidInput):
        raise
    except errors.GatewayError as error:
        return outcome_problem(error)
    return jsonify({"credential_id": accepted.credential_id, "drift_steps": accepted.drift})
