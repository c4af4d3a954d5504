"""Configuration: GATEWAY_* variables, bounds, and secrets written once into the instance folder."""

from __future__ import annotations

import stat

import pytest

from gateway import config, create_app
from gateway.web.context import app_services


def test_instance_secrets_are_written_once_with_mode_0600(tmp_path, monkeypatch) -> None:
    for key in config.DEFAULTS:
        monkeypatch.delenv(f"GATEWAY_{key}", raising=False)
    first = config.load(tmp_path)
    second = config.load(tmp_path)
    for name in ("secret_key", "seal_keys"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and len(first["SECRET_KEY"]) >= 48
    assert first["SEAL_KEYS"] == second["SEAL_KEYS"]
    assert first["DATABASE_URL"] == f"sqlite:///{tmp_path / 'gateway.db'}"
    assert first["MAIL_URL"] == f"outbox://{tmp_path / 'outbox'}"


def test_environment_then_test_config(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GATEWAY_OTP_WINDOW", "2")
    monkeypatch.setenv("GATEWAY_OTP_MAX_FAILURES", "7")
    monkeypatch.setenv("GATEWAY_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    loaded = config.load(tmp_path, {"OTP_MAX_FAILURES": 9})
    assert loaded["OTP_WINDOW"] == 2 and loaded["OTP_MAX_FAILURES"] == 9
    assert loaded["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(("key", "value"), [("OTP_WINDOW", "3"), ("OTP_MAX_FAILURES", "0"),
                                            ("SESSION_IDLE_SECONDS", "soon"), ("OTP_MAX_FAILURES", "101")])
def test_unsafe_values_refuse_to_start(tmp_path, key, value) -> None:
    with pytest.raises(config.ConfigError):
        config.load(tmp_path, {key: value})


def test_create_app_uses_the_policy(tmp_path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path), "OTP_WINDOW": 0, "PASSWORD_MAX_FAILURES": 3})
    policy = app_services(app).policy
    assert (policy.otp_window, policy.otp_max_failures, policy.password_max_failures) == (0, 10, 3)
    app_services(app).db.dispose()
