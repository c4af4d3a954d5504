"""RFC 6238 Appendix B and RFC 4226 Appendix D, read from the shared vector files, through our verifier."""

from __future__ import annotations

import pytest

from gateway.domain import otp
from gateway.domain.errors import InvalidCode, ReplayedCode
from tests.conftest import VECTORS


def _machine_rows(name: str) -> list[list[str]]:
    lines = (VECTORS / name).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Machine-readable"))
    return [line.split(",") for line in lines[start + 1 :] if line.strip() and line[0].isdigit()]


TOTP_ROWS = _machine_rows("rfc6238-appendix-b-test-vectors.txt")
HOTP_ROWS = _machine_rows("rfc4226-appendix-d-test-values.txt")


def test_vector_files_are_complete() -> None:
    assert len(TOTP_ROWS) == 18  # 6 times × SHA1/SHA256/SHA512
    assert len(HOTP_ROWS) == 10
    assert {row[3] for row in TOTP_ROWS} == {"SHA1", "SHA256", "SHA512"}
    assert any(int(row[0]) == 20000000000 for row in TOTP_ROWS)  # past 2038


@pytest.mark.parametrize(("time_s", "t_hex", "code", "mode", "seed"), TOTP_ROWS)
def test_rfc6238_appendix_b(time_s: str, t_hex: str, code: str, mode: str, seed: str) -> None:
    params = otp.OtpParams(kind="totp", algorithm=mode, digits=8, period=30)
    step = int(t_hex, 16)
    assert otp.current_step(int(time_s), 30) == step
    assert otp.code_at(seed.encode(), step, params) == code
    # The verifier accepts exactly that step, with the window closed, from an untouched state.
    match = otp.check(seed.encode(), params, otp.StepState(), code, float(time_s), window=0)
    assert match == otp.Match(step=step, drift=0)
    # …and not once that step is recorded as used.
    with pytest.raises(ReplayedCode):
        otp.check(seed.encode(), params, otp.StepState(last_step=step), code, float(time_s), window=0)


@pytest.mark.parametrize(("count", "hmac_hex", "truncated", "code"), HOTP_ROWS)
def test_rfc4226_appendix_d(count: str, hmac_hex: str, truncated: str, code: str) -> None:
    secret = b"12345678901234567890"
    params = otp.OtpParams(kind="hotp", digits=6)
    assert otp.code_at(secret, int(count), params) == code
    assert int(truncated) % 10**6 == int(code)
    match = otp.check(secret, params, otp.StepState(counter=0), code, 0.0)
    assert match.step == int(count)


def test_hotp_look_ahead_is_ten() -> None:
    secret = b"12345678901234567890"
    params = otp.OtpParams(kind="hotp", digits=6)
    code_at_11 = otp.code_at(secret, 11, params)
    with pytest.raises(InvalidCode):
        otp.check(secret, params, otp.StepState(counter=0), code_at_11, 0.0)
    assert otp.check(secret, params, otp.StepState(counter=1), code_at_11, 0.0).step == 11


def test_hotp_counter_before_next_is_a_replay() -> None:
    secret = b"12345678901234567890"
    params = otp.OtpParams(kind="hotp", digits=6)
    with pytest.raises(ReplayedCode):
        otp.check(secret, params, otp.StepState(counter=5, last_step=4), "969429", 0.0)  # count 3


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
@pytest.mark.parametrize("digits", [6, 8])
def test_codes_equal_pyotp_for_every_algorithm_and_length(algorithm: str, digits: int) -> None:
    """The verifier's own HOTP arithmetic agrees with pyotp across secrets, counters and parameters."""
    import base64
    import random

    import pyotp

    rng = random.Random(f"{algorithm}-{digits}")
    params = otp.OtpParams(kind="hotp", algorithm=algorithm, digits=digits)
    for length in (14, 16, 20, 32, 64):
        secret = rng.randbytes(length)
        reference = pyotp.HOTP(base64.b32encode(secret).decode(), digits=digits, digest=algorithm.lower())
        for counter in [0, 1, 2**31, 2**32 + 5, 2**62] + [rng.randrange(2**40) for _ in range(40)]:
            assert otp.code_at(secret, counter, params) == reference.at(counter)
