"""What the customer pages say for each outcome, with a message code as the banks' screens show them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..domain import errors


@dataclass(frozen=True)
class Message:
    code: str
    text: str
    field: str | None = None  # the input it belongs next to; None for the page

    @property
    def line(self) -> str:
        return f"{self.text}({self.code})"


REGISTERED = Message("00001", "ワンタイムパスワードの利用登録が完了しました。")
STOPPED = Message("00002", "ワンタイムパスワードの利用停止が完了しました。")
LOGGED_OUT = Message("00003", "ログアウトしました。")
RESYNCED = Message("00004", "トークンの時刻を合わせました。")

LOGIN_FAILED = Message("E0101", "契約者IDまたはログインパスワードが正しくありません。", "password")
CUSTOMER_LOCKED = Message(
    "E0102", "パスワードの誤入力が規定回数を超えたため、ご利用を停止しています。お取引店へお問い合わせください。")
CONFIRMATION_FAILED = Message("E0103", "確認用パスワードが正しくありません。", "confirmation_password")
MALFORMED_TOKEN = Message("E0201", "トークンIDの入力内容に誤りがあります。半角英数字で入力してください。", "token_id")
#: Registration (VRG002): one answer for every token that cannot be registered (unknown, another customer's,
#: locked, revoked or expired) and for a wrong or used code, so that nobody with a contract learns which of
#: the bank's token IDs exist or what state they are in. (E0203–E0205 told those apart; they are gone.)
TOKEN_OR_CODE = Message("E0202", "トークンIDまたはワンタイムパスワードが正しくありません。", "token_id")
WRONG_CODE = Message("E0206", "ワンタイムパスワードが正しくありません。", "otp")
USED_CODE = Message(
    "E0207", "このワンタイムパスワードは既に使用されています。次に表示される数字を入力してください。", "otp")
OTP_LOCKED = Message(
    "E0209",
    "ワンタイムパスワードの誤入力が規定回数を超えたため、ロックされました。お取引店へお問い合わせください。",
    "otp",
)
THROTTLED = Message("E0210", "しばらく時間をおいてから、次に表示される数字を入力してください。", "otp")
ALREADY_REGISTERED = Message("E0211", "既にワンタイムパスワードの利用登録がされています。")
NOT_REGISTERED = Message("E0212", "ワンタイムパスワードの利用登録がされていません。")
RESYNC_FAILED = Message("E0213", "連続して表示された2つのワンタイムパスワードを入力してください。", "otp1")
REGISTRATION_RESTARTED = Message(
    "E0215",
    "トークンIDまたはワンタイムパスワードの誤入力が続いたため、お手続きを中断しました。"
    "お手数ですが、最初からやり直してください。",
)
REGISTRATION_LOCKED = Message(
    "E0216",
    "トークンIDまたはワンタイムパスワードの誤入力が規定回数を超えたため、ワンタイムパスワードの利用登録を"
    "停止しています。お取引店へお問い合わせください。",
)
SESSION_EXPIRED = Message("E0901", "時間経過にて強制ログオフされました。お手数ですが、最初からやり直してください。")
OUT_OF_ORDER = Message("E0902", "操作手順に誤りがあります。最初からやり直してください。")
TOO_MANY = Message("E0903", "ただいまアクセスが集中しています。しばらく時間をおいてから再度お試しください。")
CSRF_FAILED = Message("E0904", "画面の有効期限が切れました。お手数ですが、最初からやり直してください。")


def clock_off(minutes: int) -> Message:
    return Message(
        "E0208",
        f"ワンタイムパスワードが正しくありません。スマートフォンの日時が正しいかご確認ください。"
        f"(約{minutes}分ずれている可能性があります)",
        "otp",
    )


def too_soon(allowed_on: dt.date) -> Message:
    return Message(
        "E0214",
        f"ワンタイムパスワードの利用停止後は、翌日以降に再登録してください。"
        f"({allowed_on.year}年{allowed_on.month}月{allowed_on.day}日から登録できます)",
    )


def for_error(error: errors.GatewayError) -> Message:
    """The message for a domain error; unknown errors get the generic wrong-code message."""
    if isinstance(error, errors.OutOfSync):
        return clock_off(error.offset_minutes)
    if isinstance(error, errors.ReregistrationTooSoon):
        return too_soon(error.allowed_on)
    return BY_ERROR.get(type(error), WRONG_CODE)


#: What VRG002 answers with TOKEN_OR_CODE: every token that cannot be registered, and every code that does
#: not bind one (a clock hint needs a code of the token itself, so it still tells the customer, E0208).
NOT_REGISTRABLE: tuple[type[errors.GatewayError], ...] = (
    errors.UnknownToken, errors.TokenAlreadyAssigned, errors.TokenLocked, errors.TokenRevoked,
    errors.InvalidCode, errors.ReplayedCode, errors.MalformedOtp, errors.CredentialLocked, errors.ResyncFailed,
)


def for_registration(error: errors.GatewayError) -> Message:
    """The message for a refused registration (VRG002): one and the same for every unusable token and a
    wrong code; the customer's own wait (E0210) and lock (E0216) and the clock hint (E0208) as such."""
    if isinstance(error, NOT_REGISTRABLE):
        return TOKEN_OR_CODE
    return for_error(error)


BY_ERROR: dict[type[errors.GatewayError], Message] = {
    errors.AuthenticationFailed: LOGIN_FAILED,
    errors.CustomerLocked: CUSTOMER_LOCKED,
    errors.ConfirmationPasswordFailed: CONFIRMATION_FAILED,
    errors.MalformedTokenId: MALFORMED_TOKEN,
    errors.UnknownToken: TOKEN_OR_CODE,
    errors.TokenAlreadyAssigned: TOKEN_OR_CODE,
    errors.TokenLocked: TOKEN_OR_CODE,
    errors.TokenRevoked: TOKEN_OR_CODE,
    errors.RegistrationLocked: REGISTRATION_LOCKED,
    errors.InvalidCode: WRONG_CODE,
    errors.MalformedOtp: WRONG_CODE,
    errors.ReplayedCode: USED_CODE,
    errors.CredentialLocked: OTP_LOCKED,
    errors.Throttled: THROTTLED,
    errors.AlreadyRegistered: ALREADY_REGISTERED,
    errors.NotRegistered: NOT_REGISTERED,
    errors.ResyncFailed: RESYNC_FAILED,
}

ISSUED = Message("00011", "トークン発行を受け付けました。")
STARTED = Message("00012", "ワンタイムパスワード利用開始登録を受けました。")
RELEASED = Message("00013", "ワンタイムパスワード利用解除登録を受けました。")
MAIL_PENDING = Message(
    "W0301",
    "メールの送信が遅れています。しばらくしてから再送しますので、届かない場合はお取引店へお問い合わせください。",
)
ACTIVATION_FAILED = Message("E0302", "サービスID、ユーザIDまたは利用開始パスワードが正しくありません。")
ACTIVATION_LOCKED = Message(
    "E0303", "利用開始パスワードの誤入力が規定回数を超えたため、ご利用いただけません。お取引店へお問い合わせください。")
ISSUANCE_UNAVAILABLE = Message(
    "E0304", "このトークン情報はご利用いただけません。トークン発行からやり直してください。")
#: Removing a token where the bank's policy is `code` (the pages ask for the field; the service holds the line).
CODE_REQUIRED = Message("E0217", "ワンタイムパスワードを入力してください。", "otp")
BY_ERROR.update({
    errors.CodeRequired: CODE_REQUIRED,
    errors.ActivationFailed: ACTIVATION_FAILED,
    errors.ActivationLocked: ACTIVATION_LOCKED,
    errors.IssuanceUnavailable: ISSUANCE_UNAVAILABLE,
})
