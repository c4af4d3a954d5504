"""Token issuance inside IB: the mail through a real SMTP server, set-up, start use, release, re-issue."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from pathlib import Path

import pyotp
import pytest

from gateway import create_app
from gateway.domain.errors import (
    ActivationFailed,
    ActivationLocked,
    AlreadyRegistered,
    InvalidInput,
    IssuanceUnavailable,
    ReplayedCode,
    ReregistrationTooSoon,
)
from gateway.mail import Mailer
from gateway.services import issuance
from gateway.web.context import app_services
from tests.services.conftest import CLIENT, page_verify, pending_mails

pytestmark = pytest.mark.db
JST = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture
def smtp_svc(app_config, smtp):  # type: ignore[no-untyped-def]
    app = create_app({**app_config, "MAIL_URL": smtp.url})
    yield app_services(app)
    app_services(app).db.dispose()


@pytest.fixture
def ntt_bank(make_bank):  # type: ignore[no-untyped-def]
    return make_bank("0002", "デモ商工信用組合", prefix="NTTD", period=60, service_id="10112180",
                     contact="024-991-1000")


def body(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_the_whole_journey_with_a_real_smtp_server(smtp_svc, smtp, ntt_bank, make_customer) -> None:
    svc = smtp_svc
    make_customer("0002", "2000000001")
    at = dt.datetime(2026, 11, 23, 10, 0, 30, tzinfo=JST)
    assert issuance.menu_status(svc, "0002", "2000000001", now=at).can_issue

    issued = issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT, now=at)
    assert issued.mail_delivered and issued.service_id == "10112180" and re.fullmatch(r"9998\d{8}", issued.user_id)
    guide = smtp.messages[-1]
    assert guide["Subject"] == "トークン発行のご案内" and guide["To"] == "taro@example.jp"
    assert guide.get_content_charset() == "utf-8" and "デモ商工信用組合" in guide["From"]
    text = body(guide)
    assert "いつもデモ商工信用組合をご利用いただきありがとうございます。" in text
    assert "連絡先 : 024-991-1000" in text
    service_id = re.search(r"サービスID : (\d+)", text).group(1)
    user_id = re.search(r"ユーザID : (\d+)", text).group(1)
    assert (service_id, user_id) == (issued.service_id, issued.user_id)
    status = issuance.menu_status(svc, "0002", "2000000001", now=at)
    assert (status.status, status.can_start, status.can_release) == ("issued", False, False)

    # The token app: service ID + user ID + activation password → the credential, once.
    provisioned = issuance.provision(svc, service_id, user_id, "1234", CLIENT, now=at)
    assert provisioned.period == 60 and provisioned.credential_id.startswith("NTTD")
    totp = pyotp.parse_uri(provisioned.otpauth_uri)
    assert totp.interval == 60
    with pytest.raises(IssuanceUnavailable):
        issuance.provision(svc, service_id, user_id, "1234", CLIENT, now=at)
    assert issuance.menu_status(svc, "0002", "2000000001", now=at).can_start

    view = issuance.start_use(svc, "0002", "2000000001", totp.at(at), CLIENT, now=at)
    assert view.state == "active"
    assert smtp.messages[-1]["Subject"] == "ワンタイムパスワード利用開始のお知らせ"
    status = issuance.menu_status(svc, "0002", "2000000001", now=at)
    assert (status.status, status.can_issue, status.can_release) == ("active", False, True)
    with pytest.raises(AlreadyRegistered):
        issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT, now=at)

    later = at + dt.timedelta(minutes=1)
    with pytest.raises(ReplayedCode):  # the start-use code is spent
        page_verify(svc, "0002", "2000000001", totp.at(at), CLIENT, now=later)
    later += dt.timedelta(seconds=2)  # a replay counts as a failure: the next try waits a second
    assert page_verify(svc, "0002", "2000000001", totp.at(later), CLIENT, now=later)

    release_at = at + dt.timedelta(minutes=2)
    issuance.release(svc, "0002", "2000000001", CLIENT, otp=totp.at(release_at), now=release_at)
    assert smtp.messages[-1]["Subject"] == "ワンタイムパスワード利用解除のお知らせ"
    status = issuance.menu_status(svc, "0002", "2000000001", now=release_at)
    assert status.status == "released" and not status.can_issue
    assert status.reissue_from == dt.date(2026, 11, 24)
    with pytest.raises(ReregistrationTooSoon):
        issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT,
                       now=dt.datetime(2026, 11, 23, 23, 59, tzinfo=JST))
    tomorrow = dt.datetime(2026, 11, 24, 0, 0, 1, tzinfo=JST)
    assert issuance.menu_status(svc, "0002", "2000000001", now=tomorrow).can_issue
    again = issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "5678", CLIENT, now=tomorrow)
    assert again.user_id != issued.user_id


def test_a_stopped_smtp_server_loses_nothing(smtp_svc, smtp, ntt_bank, make_customer) -> None:
    make_customer("0002", "2000000001")
    smtp.stop()
    issued = issuance.issue(smtp_svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT)
    assert not issued.mail_delivered
    assert pending_mails(smtp_svc) == 1
    smtp.start()
    assert list(smtp_svc.mailer.deliver_pending().values()) == ["sent"]
    assert pending_mails(smtp_svc) == 0
    assert f"ユーザID : {issued.user_id}" in body(smtp.messages[-1])


def test_the_outbox_default_writes_a_readable_eml(svc, app_config, ntt_bank, make_customer) -> None:
    make_customer("0002", "2000000001")
    issued = issuance.issue(svc, "0002", "2000000001", "hanako@example.jp", "87654321", CLIENT)
    assert issued.mail_delivered
    outbox = Path(app_config["INSTANCE_PATH"]) / "outbox"
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "トークン発行のご案内" and message["To"] == "hanako@example.jp"
    assert f"ユーザID : {issued.user_id}" in body(message)


def test_activation_password_locks_after_five_and_unknown_ids_look_the_same(svc, ntt_bank, make_customer) -> None:
    make_customer("0002", "2000000001")
    issued = issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT)
    with pytest.raises(ActivationFailed):
        issuance.provision(svc, "10112180", "999899999999", "1234", CLIENT)
    with pytest.raises(ActivationFailed):
        issuance.provision(svc, "99999999", issued.user_id, "1234", CLIENT)
    for attempt in range(1, 6):
        with pytest.raises(ActivationFailed):  # the fifth locks, and is still a wrong password
            issuance.provision(svc, issued.service_id, issued.user_id, "0000", CLIENT)
    with pytest.raises(ActivationFailed):  # a wrong one on a locked issuance: nothing said of the lock
        issuance.provision(svc, issued.service_id, issued.user_id, "0000", CLIENT)
    with pytest.raises(ActivationLocked):  # even the right password, now (and only it learns why)
        issuance.provision(svc, issued.service_id, issued.user_id, "1234", CLIENT)


@pytest.mark.parametrize("password", ["123", "123456789", "12a4", ""])
def test_activation_password_is_four_to_eight_digits(svc, ntt_bank, make_customer, password) -> None:
    make_customer("0002", "2000000001")
    with pytest.raises(InvalidInput):
        issuance.issue(svc, "0002", "2000000001", "taro@example.jp", password, CLIENT)
    assert issuance.menu_status(svc, "0002", "2000000001").status == "none"


def test_start_use_needs_a_provisioned_token(svc, ntt_bank, make_customer) -> None:
    make_customer("0002", "2000000001")
    with pytest.raises(IssuanceUnavailable):
        issuance.start_use(svc, "0002", "2000000001", "123456", CLIENT)
    issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT)
    with pytest.raises(IssuanceUnavailable):
        issuance.start_use(svc, "0002", "2000000001", "123456", CLIENT)


def test_mailer_refuses_unknown_schemes(svc) -> None:
    with pytest.raises(ValueError):
        Mailer(svc.db, "ftp://example")
