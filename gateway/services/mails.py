"""The customer mails, in the banks' words (seed 002 shows 「トークン発行のご案内」)."""

from __future__ import annotations

import datetime as dt

from ..storage.models import Bank, Issuance, MailMessage
from . import Services

TOKEN_GUIDE_SUBJECT = "トークン発行のご案内"  # noqa: S105 - a mail subject, not a password
#: The notices: (subject, what happened, how it was done). Every one also says when, and whom to call.
NOTICES = {
    "otp_started": (
        "ワンタイムパスワード利用開始のお知らせ",
        "ワンタイムパスワードの利用開始登録を受け付けました。\n"
        "次回のログインから「契約者ID」「ログインパスワード」に加え、「ワンタイムパスワード」が必要となります。",
        "インターネットバンキングの「ワンタイムパスワード利用開始」",
    ),
    "otp_released": (
        "ワンタイムパスワード利用解除のお知らせ",
        "ワンタイムパスワード利用解除登録を受けました。\n"
        "ワンタイムパスワードアプリを起動し「トークンの削除」を行ってください。\n"
        "翌日以降に、新たに「トークン発行」「ワンタイムパスワード利用開始」を実施してワンタイムパスワードの利用を再開下さい。",
        "インターネットバンキングの「ワンタイムパスワード利用解除」",
    ),
    "otp_stopped": (
        "ワンタイムパスワード利用停止のお知らせ",
        "ワンタイムパスワードの利用停止を受け付けました。\n"
        "次回のログインから「ワンタイムパスワード」の入力は不要となります。\n"
        "翌日以降に、ログイン画面の「ワンタイムパスワードの新規登録はこちらから」から新たに利用登録を行ってください。",
        "ログイン画面の「利用停止」",
    ),
    "otp_stopped_by_bank": (
        "ワンタイムパスワード利用停止のお知らせ",
        "ワンタイムパスワードの利用停止を受け付けました。\n"
        "次回のログインから「ワンタイムパスワード」の入力は不要となります。",
        "お取引店でのお手続き",
    ),
}
#: Where the token app comes from; banks can point these at their own pages.
APP_URL_FEATURE_PHONE = "https://www.dokodemobank.ne.jp/"
SETUP_PATH = "/b/{bank}/token/setup"


def token_guide(bank: Bank, issuance: Issuance, now: dt.datetime, base_url: str = "") -> MailMessage:
    setup_url = (base_url.rstrip("/") or "") + SETUP_PATH.format(bank=bank.code)
    body = "\n".join([
        f"いつも{bank.name}をご利用いただきありがとうございます。",
        "トークンアプリにサービスID、ユーザID、利用開始パスワードを入力し、トークンの設定を行ってください。",
        f"サービスID : {issuance.service_id}",
        f"ユーザID : {issuance.user_id}",
        "トークンアプリをお持ちでない場合には、下記のURLよりダウンロードしてください。",
        f"携帯の方 : {APP_URL_FEATURE_PHONE}",
        f"スマートフォンの方 : {setup_url}",
        "ご不明な点がございましたら、下記までご連絡ください。",
        f"連絡先 : {bank.contact or bank.name}",
        f"これからも{bank.name}をよろしくお願いいたします。",
        "",
    ])
    return MailMessage(bank_code=bank.code, kind="token_issued", recipient=issuance.email,
                       subject=TOKEN_GUIDE_SUBJECT, body=body, status="pending", attempts=0, created_at=now)


def notice(bank: Bank, recipient: str, kind: str, now: dt.datetime, zone: dt.tzinfo) -> MailMessage:
    """A notice to the customer's registered address: what happened, when (the bank's time), how, whom to call."""
    subject, text, how = NOTICES[kind]
    at = now.astimezone(zone)
    body = "\n".join([
        f"いつも{bank.name}をご利用いただきありがとうございます。",
        text,
        f"受付日時 : {at.year}年{at.month}月{at.day}日 {at.hour:02d}時{at.minute:02d}分",
        f"お手続き : {how}",
        "お心当たりのない場合は、下記までご連絡ください。",
        f"連絡先 : {bank.contact or bank.name}",
        f"これからも{bank.name}をよろしくお願いいたします。",
        "",
    ])
    return MailMessage(bank_code=bank.code, kind=kind, recipient=recipient, subject=subject, body=body,
                       status="pending", attempts=0, created_at=now)


def deliver(svc: Services, *mail_ids: int) -> bool:
    """Try the new mails now; a failure leaves them pending for the retry (`otp-gateway mail retry`)."""
    if not mail_ids:
        return True
    if svc.mailer is None:
        return False
    outcome = svc.mailer.deliver_pending(only=list(mail_ids))
    return all(outcome.get(mail_id) == "sent" for mail_id in mail_ids)
