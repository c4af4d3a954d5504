"""Forms of the OTP menu inside IB (seeds 000–003): issuance, start use, release, token set-up."""

from __future__ import annotations

import unicodedata
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import ValidationError

from ..domain.customers import ACTIVATION_PASSWORD
from ..domain.tokens import typed
from .forms import otp_check, otp_field, required


def _email(form: FlaskForm, field: Any) -> None:
    try:
        field.data = validate_email((field.data or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationError("携帯電話メールアドレスの形式が正しくありません。") from None


def _same_as(other: str, message: str):  # type: ignore[no-untyped-def]
    def check(form: FlaskForm, field: Any) -> None:
        if (field.data or "").strip() != (form[other].data or "").strip():
            raise ValidationError(message)

    return check


def _activation(form: FlaskForm, field: Any) -> None:
    field.data = unicodedata.normalize("NFKC", field.data or "")
    if not ACTIVATION_PASSWORD.fullmatch(field.data):
        raise ValidationError("利用開始パスワードは4~8桁の数字で入力して下さい。")


class IssueForm(FlaskForm):
    """BOT001 トークン発行(ソフトウェアトークン発行情報入力)."""

    email = StringField("携帯電話メールアドレス", validators=[required("携帯電話メールアドレス"), _email],
                        render_kw={"autocomplete": "email", "inputmode": "email", "maxlength": 254})
    email_confirm = StringField("携帯電話メールアドレス(確認用)", validators=[
        required("携帯電話メールアドレス(確認用)"),
        _same_as("email", "携帯電話メールアドレスと確認用の入力が一致しません。")],
        render_kw={"autocomplete": "off", "inputmode": "email", "maxlength": 254})
    activation_password = PasswordField("利用開始パスワード", validators=[required("利用開始パスワード"), _activation],
                                        render_kw={"inputmode": "numeric", "autocomplete": "new-password",
                                                   "maxlength": 8})
    activation_confirm = PasswordField("利用開始パスワード(確認用)", validators=[
        required("利用開始パスワード(確認用)"),
        _same_as("activation_password", "利用開始パスワードと確認用の入力が一致しません。")],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password", "maxlength": 8})


class ConfirmPasswordForm(FlaskForm):
    """BOT003: the 確認用パスワード confirms the issuance."""

    confirmation_password = PasswordField("確認用パスワード", validators=[required("確認用パスワード")],
                                          render_kw={"autocomplete": "off", "maxlength": 12})


class StartForm(FlaskForm):
    """BOK001 ワンタイムパスワード利用開始(ソフトウェアトークン確認)."""

    otp = otp_field()

    def __init__(self, *args: Any, digits: int = 6, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.otp.validators = [required("ワンタイムパスワード"), otp_check(digits)]


class ReleaseForm(FlaskForm):
    """BOS001 利用解除確認: 確認用パスワード, and the code where the bank's policy asks for it."""

    confirmation_password = PasswordField("確認用パスワード", validators=[required("確認用パスワード")],
                                          render_kw={"autocomplete": "off", "maxlength": 12})
    otp = otp_field()

    def __init__(self, *args: Any, digits: int = 6, needs_otp: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.otp.validators = [required("ワンタイムパスワード"), otp_check(digits)] if needs_otp else []


class SetupForm(FlaskForm):
    """The token set-up page: what a token app asks for, and the customer's consent."""

    service_id = StringField("サービスID", validators=[required("サービスID")],
                             render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 8})
    user_id = StringField("ユーザID", validators=[required("ユーザID")],
                          render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 12})
    activation_password = PasswordField("利用開始パスワード", validators=[required("利用開始パスワード")],
                                        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 8})
    agree = BooleanField("上記の内容に同意する")

    def validate_agree(self, field: Any) -> None:
        if not field.data:
            raise ValidationError("「上記の内容に同意する」にチェックを入れてください。")

    def validate_service_id(self, field: Any) -> None:
        field.data = typed(field.data or "")  # the page compares it with its own bank's before the service
