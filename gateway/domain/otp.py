"""RFC 4226 (HOTP) and RFC 6238 (TOTP) verification, pure: window, drift, replay, clock hint, resync.

The functions here decide *which* step a code belongs to. Recording that step (so the code can never be
accepted again) is the storage layer's job, done with one conditional UPDATE.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from typing import Literal

from .errors import InvalidCode, OutOfSync, ReplayedCode, ResyncFailed

Kind = Literal["totp", "hotp"]
ALGORITHMS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
DIGITS = (6, 8)
PERIODS = (30, 60)
#: How far outside the window a code is still recognised, to tell the customer the clock is off.
OUT_OF_SYNC_STEPS = 10
#: HOTP look-ahead (RFC 4226 §7.4) and how far back a replayed HOTP code is recognised as such.
HOTP_LOOK_AHEAD = 10
#: Resync looks further: the customer proves possession with two consecutive codes.
RESYNC_STEPS = 10
HOTP_RESYNC_LOOK_AHEAD = 100


@dataclass(frozen=True, slots=True)
class OtpParams:
    """How a credential makes codes."""

    kind: Kind = "totp"
    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30

    def __post_init__(self) -> None:
        if self.kind not in ("totp", "hotp"):
            raise ValueError(f"unknown kind {self.kind!r}")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {self.algorithm!r}")
        if self.digits not in DIGITS:
            raise ValueError(f"unsupported digits {self.digits!r}")
        if self.kind == "totp" and not 1 <= self.period <= 120:
            raise ValueError(f"unsupported period {self.period!r}")


@dataclass(frozen=True, slots=True)
class StepState:
    """What the registry remembers between verifications."""

    last_step: int | None = None  # the last accepted time step (TOTP) or counter (HOTP)
    drift: int = 0  # TOTP: steps the token runs ahead (+) or behind (−) the server clock
    counter: int = 0  # HOTP: the next counter expected


@dataclass(frozen=True, slots=True)
class Match:
    """A code that may be accepted: the step to record and the drift to remember with it."""

    step: int
    drift: int


def code_at(secret: bytes, step: int, params: OtpParams) -> str:
    """The code for one time step or counter value (RFC 4226 §5.3 dynamic truncation)."""
    return _hotp(secret, params).at(step)


def current_step(now: float, period: int) -> int:
    """RFC 6238 T = floor((unix time − T0) / X) with T0 = 0; only the server's clock counts."""
    return int(now // period)


def check(secret: bytes, params: OtpParams, state: StepState, otp: str, now: float, window: int = 1) -> Match:
    """Which not-yet-used step `otp` belongs to, or a typed reason why none does.

    TOTP: the current step ± `window` around the recorded drift. HOTP: the next counter and up to
    `HOTP_LOOK_AHEAD` after it. A code of a step at or before `last_step` is a replay.
    """
    gen = _hotp(secret, params)
    given = _number(otp, params.digits)
    if given is None:
        raise InvalidCode()
    if params.kind == "hotp":
        return _check_hotp(gen, state, given)
    now_step = current_step(now, params.period)
    centre = now_step + state.drift
    replayed = False
    for step in _ordered_window(centre, window):
        if gen.value(step) == given:
            if _fresh(step, state):
                return Match(step=step, drift=step - now_step)
            replayed = True
    if replayed:
        raise ReplayedCode()
    for distance in range(window + 1, OUT_OF_SYNC_STEPS + 1):
        for step in (centre - distance, centre + distance):
            if _fresh(step, state) and gen.value(step) == given:
                raise OutOfSync(offset_steps=step - now_step, period=params.period)
    raise InvalidCode()


def resync(secret: bytes, params: OtpParams, state: StepState, otp1: str, otp2: str, now: float) -> Match:
    """Two consecutive codes re-centre the drift (VIP's Synchronize); both are used up."""
    gen = _hotp(secret, params)
    first, second = _number(otp1, params.digits), _number(otp2, params.digits)
    if first is None or second is None:
        raise ResyncFailed()
    if params.kind == "hotp":
        start = max(state.counter, (state.last_step + 1) if state.last_step is not None else 0)
        candidates = range(start, start + HOTP_RESYNC_LOOK_AHEAD)
        now_step = 0
    else:
        now_step = current_step(now, params.period)
        centre = now_step + state.drift
        candidates = range(min(now_step, centre) - RESYNC_STEPS, max(now_step, centre) + RESYNC_STEPS + 1)
    for step in candidates:
        if _fresh(step, state) and gen.value(step) == first and gen.value(step + 1) == second:
            accepted = step + 1
            return Match(step=accepted, drift=accepted - now_step if params.kind == "totp" else 0)
    raise ResyncFailed()


def _check_hotp(gen: _Generator, state: StepState, given: int) -> Match:
    start = state.counter if state.last_step is None else max(state.counter, state.last_step + 1)
    for counter in range(start, start + HOTP_LOOK_AHEAD + 1):
        if gen.value(counter) == given:
            return Match(step=counter, drift=0)
    for counter in range(max(0, start - HOTP_LOOK_AHEAD), start):
        if gen.value(counter) == given:
            raise ReplayedCode()
    raise InvalidCode()


def _ordered_window(centre: int, window: int) -> list[int]:
    """Centre first, then outwards: the most likely step is tried first."""
    steps = [centre]
    for distance in range(1, window + 1):
        steps += [centre - distance, centre + distance]
    return steps


def _fresh(step: int, state: StepState) -> bool:
    return step >= 0 and (state.last_step is None or step > state.last_step)


def _number(otp: str, digits: int) -> int | None:
    """A code as the number it is compared as, if it is `digits` ASCII digits (else it matches nothing).

    Codes are below 2**30 and compare in one machine word: the comparison takes the same time whichever
    digits differ, as `hmac.compare_digest` would.
    """
    if len(otp) != digits or not (otp.isascii() and otp.isdigit()):
        return None
    return int(otp)


class _Generator:
    """RFC 4226 §5.3 codes for one secret: HMAC over the 8-byte counter, dynamic truncation.

    The same arithmetic as `pyotp.HOTP.at` (the tests hold the two equal for every algorithm and
    length), but with the secret kept as bytes and the key set up once for all counters: a wrong code
    is tried against up to 21 steps (the window and the clock hint), so this is most of a rejection's
    CPU time.
    """

    __slots__ = ("_keyed", "digest", "digits", "modulus", "secret")

    def __init__(self, secret: bytes, params: OtpParams) -> None:
        self.secret = secret
        self.digest = ALGORITHMS[params.algorithm]
        self.digits = params.digits
        self.modulus = 10**params.digits
        self._keyed: hmac.HMAC | None = None  # the HMAC keyed once, copied for each counter

    def at(self, counter: int) -> str:
        return str(self.value(counter)).zfill(self.digits)

    def value(self, counter: int) -> int:
        """The code as a number: what a given code (digits only, its length checked) is compared with."""
        keyed = self._keyed
        if keyed is None:
            keyed = self._keyed = hmac.new(self.secret, digestmod=self.digest)
        each = keyed.copy()
        each.update(counter.to_bytes(8, "big"))
        mac = each.digest()
        offset = mac[-1] & 0x0F
        return (int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF) % self.modulus


def _hotp(secret: bytes, params: OtpParams) -> _Generator:
    return _Generator(secret, params)


def b32(secret: bytes) -> str:
    """Base32 without padding, as authenticator apps expect in an otpauth URI."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def throttle_delay(failures: int) -> float:
    """Seconds to wait after `failures` consecutive wrong codes: 1, 2, 4, 8… (as django-otp)."""
    return float(2 ** (failures - 1)) if failures > 0 else 0.0
