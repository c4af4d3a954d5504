"""The partner API's calls beyond verification, attached to the `partner_api` blueprint (`/api/v1`).

`gateway.web.partner_api` owns the blueprint, the bearer-key check and the verify call, and imports
these modules so that their routes join it.
"""

# Whichever module is imported first, the blueprint and its key check exist before the routes join it.
from .. import partner_api as _partner_api  # noqa: F401
