"""A locked issuance is answered like unknown IDs to anyone without its activation password (API and page)."""

from __future__ import annotations

import pytest

from gateway.services import issuance
from tests.services.conftest import CLIENT

pytestmark = pytest.mark.db

WRONG, RIGHT = "0000", "1234"


@pytest.fixture
def issued(svc, make_bank, make_customer):  # type: ignore[no-untyped-def]
    make_bank("0002", "デモ商工信用組合", prefix="NTTD", period=60, service_id="10112180")
    make_customer("0002", "2000000001")
    return issuance.issue(svc, "0002", "2000000001", "taro@example.jp", RIGHT, CLIENT)


def results(audit_rows) -> list[str]:  # type: ignore[no-untyped-def]
    return [row.result for row in audit_rows("token.provision")]


def test_the_api_answers_a_locked_issuance_like_unknown_ids(client, issued, audit_rows) -> None:
    def provision(user_id: str, password: str):  # type: ignore[no-untyped-def]
        response = client.post("/api/v1/provision", json={"service_id": issued.service_id, "user_id": user_id,
                                                          "activation_password": password})
        return response.status_code, response.get_json()

    unknown = provision("999899999999", RIGHT)
    assert unknown[0] == 403 and unknown[1]["type"] == "/problems/activation-failed"
    answers = [provision(issued.user_id, WRONG) for _ in range(5)]
    answers += [provision(issued.user_id, WRONG), provision(issued.user_id, RIGHT)]
    assert answers == [unknown] * 7
    assert results(audit_rows) == ["unknown", "failed", "failed", "failed", "failed", "locked_now", "locked",
                                   "locked"]


def test_the_setup_page_tells_the_lock_only_to_the_password_holder(browser, issued, audit_rows) -> None:
    def setup(user_id: str, password: str) -> str:
        page = browser.post("/b/0002/token/setup", {"service_id": issued.service_id, "user_id": user_id,
                                                    "activation_password": password, "agree": "y"})
        assert page.status == 200
        return " ".join(line for line in page.visible.split(" ") if "(E03" in line)

    browser.get("/b/0002/token/setup")
    unknown = setup("999899999999", RIGHT)
    assert "サービスID、ユーザIDまたは利用開始パスワードが正しくありません。(E0302)" in unknown
    assert [setup(issued.user_id, WRONG) for _ in range(6)] == [unknown] * 6
    assert "(E0303)" in setup(issued.user_id, RIGHT)
    assert results(audit_rows) == ["unknown", "failed", "failed", "failed", "failed", "locked_now", "locked",
                                   "locked"]
