"""Pure domain rules: token IDs, OTP verification, typed errors. No Flask, no SQLAlchemy."""
