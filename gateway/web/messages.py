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
UNKNOWN_TOKEN = Message("E0202", "入力されたトークンIDは登録されていません。トークンIDをご確認ください。", "token_id")
TOKEN_IN_USE = Message("E0203", "入力されたトークンIDは既に利用されています。", "token_id")
TOKEN_LOCKED = Message(
    "E0204", "入力されたトークンIDはロックされています。お取引店へお問い合わせください。", "token_id")
TOKEN_REVOKED = Message("E0205", "入力されたトークンIDはご利用いただけません。", "token_id")
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


BY_ERROR: dict[type[errors.GatewayError], Message] = {
    errors.AuthenticationFailed: LOGIN_FAILED,
    errors.CustomerLocked: CUSTOMER_LOCKED,
    errors.ConfirmationPasswordFailed: CONFIRMATION_FAILED,
    errors.MalformedTokenId: MALFORMED_TOKEN,
    errors.UnknownToken: UNKNOWN_TOKEN,
    errors.TokenAlreadyAssigned: TOKEN_IN_USE,
    errors.TokenLocked: TOKEN_LOCKED,
    errors.TokenRevoked: TOKEN_REVOKED,
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
BY_ERROR.update({
    errors.ActivationFailed: ACTIVATION_FAILED,
    errors.ActivationLocked: ACTIVATION_LOCKED,
    errors.IssuanceUnavailable: ISSUANCE_UNAVAILABLE,
})
