"""トークンの設定 for standard authenticator apps: サービスID + ユーザID + 利用開始パスワード → a QR code."""

from __future__ import annotations

import segno
from flask import g

from ..domain.errors import ActivationFailed, GatewayError
from ..services import issuance
from . import flow, messages
from .context import app_services
from .ib_forms import SetupForm
from .limits import limiter
from .pages import bp


@bp.route("/token/setup", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
def token_setup() -> str:
    """Single use: the activation password gives the secret once, and locks after five wrong tries."""
    form = SetupForm()
    provisioned = None
    qr = None
    if form.validate_on_submit():
        try:
            if form.service_id.data != g.bank.service_id:  # this bank's page sets up this bank's tokens
                raise ActivationFailed()
            provisioned = issuance.provision(app_services(), form.service_id.data, form.user_id.data,
                                             form.activation_password.data, flow.client())
        except GatewayError as error:
            flow.field_errors(form, messages.for_error(error))
        else:
            qr = segno.make(provisioned.otpauth_uri, error="m").svg_data_uri(scale=5, border=2)
    return flow.render("token_setup.html", "BOT011", form=form, provisioned=provisioned, qr=qr)
