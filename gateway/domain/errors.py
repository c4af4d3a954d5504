"""Typed domain errors. The web and API layers own the wording; these carry only facts."""

from __future__ import annotations

import datetime as dt


class GatewayError(Exception):
    """Base of every error a use case raises on purpose."""

    code = "error"

    def __init__(self, *args: object) -> None:
        super().__init__(*args or (self.code,))


# --- input -----------------------------------------------------------------------------------------
class InvalidInput(GatewayError):
    """Syntactically wrong input (a form error, never a lookup)."""

    code = "invalid_input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MalformedTokenId(InvalidInput):
    code = "malformed_token_id"

    def __init__(self, reason: str = "format") -> None:
        super().__init__("credential_id", reason)


class MalformedOtp(InvalidInput):
    code = "malformed_otp"

    def __init__(self, reason: str = "format") -> None:
        super().__init__("otp", reason)


# --- banks and customers ---------------------------------------------------------------------------
class UnknownBank(GatewayError):
    code = "unknown_bank"


class AuthenticationFailed(GatewayError):
    """Unknown contract ID or wrong password: deliberately one error for both."""

    code = "authentication_failed"


class CustomerLocked(GatewayError):
    """Too many wrong passwords; only an operator unlocks."""

    code = "customer_locked"


class ConfirmationPasswordFailed(GatewayError):
    code = "confirmation_password_failed"


class CustomerExists(GatewayError):
    code = "customer_exists"


class UnknownCustomer(GatewayError):
    """Raised only where the caller is already trusted (operators, a bank's API key)."""

    code = "unknown_customer"


# --- credentials -----------------------------------------------------------------------------------
class UnknownToken(GatewayError):
    code = "unknown_token"


class TokenAlreadyAssigned(GatewayError):
    code = "token_already_assigned"


class TokenRevoked(GatewayError):
    code = "token_revoked"


class TokenLocked(GatewayError):
    code = "token_locked"


class AmbiguousToken(GatewayError):
    """Operators: more than one bank holds this token ID (IDs are unique per bank); name the bank."""

    code = "ambiguous_token"

    def __init__(self, token_id: str, banks: list[str]) -> None:
        super().__init__(f"{token_id} is held by banks {', '.join(banks)}")
        self.token_id = token_id
        self.banks = banks


class AlreadyRegistered(GatewayError):
    """The customer already has an active credential: never a second one."""

    code = "already_registered"


class NotRegistered(GatewayError):
    """The customer has no active credential."""

    code = "not_registered"


class CodeRequired(GatewayError):
    """The bank's removal policy is `code`: removing the token needs its code, on every path."""

    code = "code_required"


class ReregistrationTooSoon(GatewayError):
    code = "reregistration_too_soon"

    def __init__(self, allowed_on: dt.date) -> None:
        super().__init__(f"allowed from {allowed_on.isoformat()}")
        self.allowed_on = allowed_on


# --- codes -----------------------------------------------------------------------------------------
class CodeRejected(GatewayError):
    """Base of every reason a code was not accepted; each one counts as a failure unless throttled."""

    code = "rejected"


class InvalidCode(CodeRejected):
    code = "invalid_code"


class ReplayedCode(CodeRejected):
    """The code is right but its step was already used (or an older one)."""

    code = "replayed_code"


class OutOfSync(CodeRejected):
    """The code matches a step within ±10 of the window but outside it: the phone's clock is off."""

    code = "out_of_sync"

    def __init__(self, offset_steps: int, period: int) -> None:
        super().__init__(f"offset {offset_steps} steps")
        self.offset_steps = offset_steps
        self.period = period

    @property
    def offset_seconds(self) -> int:
        return self.offset_steps * self.period

    @property
    def offset_minutes(self) -> int:
        """Rounded to whole minutes, at least 1, for 「約N分」."""
        return max(1, round(abs(self.offset_seconds) / 60))


class Throttled(CodeRejected):
    """A wrong code was tried too recently; this try was not looked at."""

    code = "throttled"

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class CredentialLocked(CodeRejected):
    """Locked after OTP_MAX_FAILURES wrong codes (now or earlier); only an operator unlocks."""

    code = "credential_locked"


class RegistrationLocked(CodeRejected):
    """The customer's registration tries are locked after OTP_MAX_FAILURES wrong ones (the tokens they
    were typed against are untouched); only an operator unlocks the customer."""

    code = "registration_locked"


class ResyncFailed(GatewayError):
    code = "resync_failed"


# --- issuance (NTT-style menu) ----------------------------------------------------------------------
class IssuanceUnavailable(GatewayError):
    code = "issuance_unavailable"


class ActivationFailed(GatewayError):
    code = "activation_failed"


class ActivationLocked(GatewayError):
    code = "activation_locked"
