"""Configuration: defaults, `GATEWAY_*` environment variables, and secrets kept in the instance folder."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

#: Every key of SPEC §6 with its default; `None` means "derived from the instance folder".
DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,
    "SECRET_KEY": None,
    "SEAL_KEYS": None,
    #: None: a file in the instance folder that every worker of this host counts in (`sqlite:///…`).
    "RATELIMIT_STORAGE_URI": None,
    "RATELIMIT_PER_ADDRESS": "60 per minute",
    "RATELIMIT_PER_CONTRACT": "20 per minute",
    "RATELIMIT_API_PER_KEY": "60000 per minute",
    "MAIL_URL": None,
    "OTP_WINDOW": 1,
    "OTP_MAX_FAILURES": 10,
    "PASSWORD_MAX_FAILURES": 5,
    "SESSION_IDLE_SECONDS": 600,
    "SESSION_ABSOLUTE_SECONDS": 3600,
    "PUBLIC_BASE_URL": "",
    "DEFAULT_BANK": "0001",
    "TIMEZONE": "Asia/Tokyo",
    "LOG_LEVEL": "INFO",
    #: Who may read /metrics: comma-separated client addresses or CIDR networks; empty means nobody.
    "METRICS_ALLOW": "127.0.0.1,::1",
    #: The reverse proxies whose X-Forwarded-* headers are believed (addresses or CIDR networks); empty: none.
    "TRUSTED_PROXIES": "",
    #: How many trusted proxies stand in front, one behind the other (how many X-Forwarded-For entries count).
    "PROXY_HOPS": 1,
    #: Bytes: the largest request body anything takes (a keyed PSKC import); each route takes less.
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
}
INT_KEYS = {
    "PROXY_HOPS",
    "MAX_CONTENT_LENGTH",
    "OTP_WINDOW",
    "OTP_MAX_FAILURES",
    "PASSWORD_MAX_FAILURES",
    "SESSION_IDLE_SECONDS",
    "SESSION_ABSOLUTE_SECONDS",
}
#: Lower and upper bounds a deployment may choose; outside them the gateway refuses to start.
BOUNDS = {
    "PROXY_HOPS": (1, 5),
    "MAX_CONTENT_LENGTH": (64 * 1024, 1024 * 1024 * 1024),
    "OTP_WINDOW": (0, 2),
    "OTP_MAX_FAILURES": (1, 100),
    "PASSWORD_MAX_FAILURES": (1, 100),
    "SESSION_IDLE_SECONDS": (30, 3600),
    "SESSION_ABSOLUTE_SECONDS": (60, 86400),
}


class ConfigError(ValueError):
    """A configuration value the gateway cannot run with."""


def load(instance_path: str | os.PathLike[str], test_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the environment, then `test_config`; secrets fall back to the instance folder."""
    instance = private_folder(Path(instance_path))
    config = dict(DEFAULTS)
    for key in DEFAULTS:
        value = os.environ.get(f"GATEWAY_{key}")
        if value is not None and value != "":
            config[key] = value
    if test_config:
        config.update(test_config)
    for key in INT_KEYS:
        try:
            config[key] = int(config[key])
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a whole number, not {config[key]!r}") from None
        low, high = BOUNDS[key]
        if not low <= config[key] <= high:
            raise ConfigError(f"{key} must be between {low} and {high}")
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{instance / 'gateway.db'}"
    if not config["MAIL_URL"]:
        config["MAIL_URL"] = f"outbox://{instance / 'outbox'}"
    if not config["RATELIMIT_STORAGE_URI"]:
        config["RATELIMIT_STORAGE_URI"] = f"sqlite:///{instance / 'ratelimits.db'}"
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = instance_secret(instance, "secret_key", lambda: secrets.token_urlsafe(48))
    if not config["SEAL_KEYS"]:
        config["SEAL_KEYS"] = instance_secret(instance, "seal_keys", new_seal_key)
    return config


def new_seal_key() -> str:
    """A fresh 256-bit AES key, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def private_folder(instance: Path) -> Path:
    """The instance folder, readable by this user alone (0700): it holds the keys, the SQLite database, the
    outbox's mails and the rate-limit counters."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    if instance.stat().st_mode & 0o077:
        instance.chmod(0o700)
    return instance


def instance_secret(instance: Path, name: str, make: Any) -> str:
    """Read a secret from the instance folder, writing a new one (mode 0600) the first time."""
    path = instance / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if not value:
            raise ConfigError(f"{path} is empty") from None
        return value
    with os.fdopen(fd, "w") as handle:
        value = make()
        handle.write(value + "\n")
    return value
