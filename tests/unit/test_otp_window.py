"""Window, drift, clock hint and resync of the pure verifier, parametrized over clock skew."""

from __future__ import annotations

import pytest

from gateway.domain import otp
from gateway.domain.errors import InvalidCode, OutOfSync, ReplayedCode, ResyncFailed

SECRET = bytes(range(20))
PARAMS = otp.OtpParams()
NOW = 1_800_000_015.0  # mid-step
STEP = otp.current_step(NOW, 30)


def code(step: int) -> str:
    return otp.code_at(SECRET, step, PARAMS)


@pytest.mark.parametrize("skew", [-1, 0, 1])
def test_window_accepts_one_step_either_side(skew: int) -> None:
    match = otp.check(SECRET, PARAMS, otp.StepState(), code(STEP + skew), NOW, window=1)
    assert match == otp.Match(step=STEP + skew, drift=skew)


@pytest.mark.parametrize("skew", [-2, 2, -10, 10])
def test_outside_window_but_near_is_out_of_sync(skew: int) -> None:
    with pytest.raises(OutOfSync) as caught:
        otp.check(SECRET, PARAMS, otp.StepState(), code(STEP + skew), NOW, window=1)
    assert caught.value.offset_steps == skew
    assert caught.value.offset_seconds == skew * 30


@pytest.mark.parametrize("skew", [-11, 11, 40])
def test_far_away_is_just_wrong(skew: int) -> None:
    with pytest.raises(InvalidCode):
        otp.check(SECRET, PARAMS, otp.StepState(), code(STEP + skew), NOW, window=1)


def test_window_follows_recorded_drift() -> None:
    state = otp.StepState(drift=3)
    assert otp.check(SECRET, PARAMS, state, code(STEP + 4), NOW, window=1) == otp.Match(STEP + 4, 4)
    with pytest.raises(OutOfSync) as caught:
        otp.check(SECRET, PARAMS, state, code(STEP), NOW, window=1)
    assert caught.value.offset_steps == 0  # the phone is right; the recorded drift is what is off


def test_window_zero_accepts_only_the_centre() -> None:
    with pytest.raises(OutOfSync):
        otp.check(SECRET, PARAMS, otp.StepState(), code(STEP + 1), NOW, window=0)


def test_older_step_after_newer_is_a_replay() -> None:
    state = otp.StepState(last_step=STEP)
    with pytest.raises(ReplayedCode):
        otp.check(SECRET, PARAMS, state, code(STEP - 1), NOW, window=1)
    assert otp.check(SECRET, PARAMS, state, code(STEP + 1), NOW, window=1).step == STEP + 1


def test_out_of_sync_minutes_for_the_page() -> None:
    assert OutOfSync(offset_steps=-4, period=30).offset_minutes == 2
    assert OutOfSync(offset_steps=1, period=30).offset_minutes == 1
    assert OutOfSync(offset_steps=6, period=60).offset_minutes == 6


def test_resync_recentres_with_two_consecutive_codes() -> None:
    match = otp.resync(SECRET, PARAMS, otp.StepState(), code(STEP + 7), code(STEP + 8), NOW)
    assert match == otp.Match(step=STEP + 8, drift=8)


def test_resync_refuses_codes_that_are_not_consecutive() -> None:
    with pytest.raises(ResyncFailed):
        otp.resync(SECRET, PARAMS, otp.StepState(), code(STEP + 7), code(STEP + 9), NOW)


def test_resync_refuses_used_steps() -> None:
    with pytest.raises(ResyncFailed):
        otp.resync(SECRET, PARAMS, otp.StepState(last_step=STEP + 8), code(STEP + 7), code(STEP + 8), NOW)


def test_throttle_delay_doubles() -> None:
    assert [otp.throttle_delay(n) for n in range(6)] == [0, 1, 2, 4, 8, 16]


@pytest.mark.parametrize(
    "bad",
    [
        {"algorithm": "MD5"},
        {"digits": 5},
        {"period": 121},
        {"kind": "motp"},
    ],
)
def test_params_refuse_what_we_cannot_verify(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        otp.OtpParams(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [
    lambda c: "0" + c,  # the right number with one digit more
    lambda c: c[1:] if c.startswith("0") else c + "0",  # with one digit less (or more)
    lambda c: c.translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # full-width digits
    lambda c: " " + c,
    lambda c: "+" + c[1:],
])
def test_only_the_exact_digits_match(shape) -> None:  # type: ignore[no-untyped-def]
    """Codes are compared as numbers: a string that is not exactly `digits` ASCII digits matches nothing."""
    right = code(STEP)
    with pytest.raises(InvalidCode):
        otp.check(SECRET, PARAMS, otp.StepState(), shape(right), NOW, window=1)
    with pytest.raises(ResyncFailed):
        otp.resync(SECRET, PARAMS, otp.StepState(), shape(right), code(STEP + 1), NOW)
    hotp = otp.OtpParams(kind="hotp")
    with pytest.raises(InvalidCode):
        otp.check(SECRET, hotp, otp.StepState(), shape(otp.code_at(SECRET, 0, hotp)), NOW)
