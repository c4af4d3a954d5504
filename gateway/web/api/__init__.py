"""The partner banks' JSON API (`/api/v1`): `blueprint` owns `bp`, the key check and the body limits; each call
module registers its routes on it (importing them here does that)."""

from . import credentials, customers, docs, events, verify
from .blueprint import bp

__all__ = ["bp", "credentials", "customers", "docs", "events", "verify"]
