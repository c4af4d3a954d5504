"""One set of Flask-WTF forms for both layouts. Syntax only: normalise, length, digits — never the database."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import ValidationError

from ..domain.customers import normalise_contract_id
from ..domain.errors import InvalidInput, MalformedOtp, MalformedTokenId
from ..domain.tokens import normalise_otp, normalise_token_id


def required(label: str):  # type: ignore[no-untyped-def]
    def check(form: FlaskForm, field: Any) -> None:
        if not (field.data or "").strip():
            raise ValidationError(f"{label}を入力してください。")

    return check


def _contract_id(form: FlaskForm, field: Any) -> None:
    try:
        field.data = normalise_contract_id(field.data)
    except InvalidInput:
        raise ValidationError("契約者IDは半角英数字で入力してください。") from None


def _token_id(form: FlaskForm, field: Any) -> None:
    try:
        field.data = normalise_token_id(field.data)
    except MalformedTokenId:
        raise ValidationError("トークンIDの入力内容に誤りがあります。半角英数字で入力してください。(E0201)") from None


def otp_check(digits: int):  # type: ignore[no-untyped-def]
    def check(form: FlaskForm, field: Any) -> None:
        try:
            field.data = normalise_otp(field.data, digits)
        except MalformedOtp:
            raise ValidationError(f"ワンタイムパスワードは半角数字{digits}桁で入力してください。") from None

    return check


def otp_field(label: str = "ワンタイムパスワード") -> StringField:
    return StringField(label, render_kw={"inputmode": "numeric", "autocomplete": "one-time-code",
                                         "maxlength": 16, "pattern": "[0-9０-９ ]*"})


class LoginForm(FlaskForm):
    """契約者ID + ログインパスワード (LGN001, VRG001, VST001)."""

    contract_id = StringField("契約者ID", validators=[required("契約者ID"), _contract_id],
                              render_kw={"autocomplete": "username", "maxlength": 32})
    password = PasswordField("ログインパスワード", validators=[required("ログインパスワード")],
                             render_kw={"autocomplete": "current-password", "maxlength": 64})


class CodeForm(FlaskForm):
    """ワンタイムパスワード alone (LGN002). The digits come from the customer's token (`digits`)."""

    otp = otp_field()

    def __init__(self, *args: Any, digits: int = 6, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.otp.validators = [required("ワンタイムパスワード"), otp_check(digits)]


class RegisterTokenForm(FlaskForm):
    """トークンID + ワンタイムパスワード (VRG002); the code's length is checked once the token is known."""

    token_id = StringField("トークンID", validators=[required("トークンID"), _token_id],
                           render_kw={"autocomplete": "off", "maxlength": 40, "autocapitalize": "characters"})
    otp = otp_field()

    def __init__(self, *args: Any, digits: int = 6, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.otp.validators = [required("ワンタイムパスワード"), otp_check(digits)]


class StopConfirmForm(FlaskForm):
    """確認用パスワード, and the ワンタイムパスワード where the bank asks for it (VST002)."""

    confirmation_password = PasswordField("確認用パスワード", validators=[required("確認用パスワード")],
                                          render_kw={"autocomplete": "off", "maxlength": 12})
    otp = otp_field()

    def __init__(self, *args: Any, digits: int = 6, needs_otp: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.needs_otp = needs_otp
        self.otp.validators = [required("ワンタイムパスワード"), otp_check(digits)] if needs_otp else []


class ResyncForm(FlaskForm):
    """Two consecutive codes (the clock-hint page's resync offer)."""

    otp1 = otp_field("1回目のワンタイムパスワード")
    otp2 = otp_field("2回目のワンタイムパスワード")

    def __init__(self, *args: Any, digits: int = 6, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.otp1.validators = [required("1回目のワンタイムパスワード"), otp_check(digits)]
        self.otp2.validators = [required("2回目のワンタイムパスワード"), otp_check(digits)]


class RegisterResyncForm(ResyncForm):
    """VRG002's clock-hint form: the token ID again, with two consecutive codes."""

    token_id = StringField("トークンID", validators=[required("トークンID"), _token_id],
                           render_kw={"autocomplete": "off", "maxlength": 40})


class PlainForm(FlaskForm):
    """A button-only form (ログアウト): CSRF token and nothing else."""
