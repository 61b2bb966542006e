"""The demo bank's backend vouches for its customer: a signed identity token (a JWT, HS256,
with the secret of the bank's site on the desk) that the widget hands to the desk when the
customer asks for help, so that the operator sees who it is, verified (docs/install.md,
"Signed identity"). The shop signs nothing: its customers show as "not verified".
"""

from __future__ import annotations

import time

import jwt
from django.conf import settings

from . import bank_data

BANK_SITE_KEY = "pk_demo_bank"
SHOP_SITE_KEY = "pk_demo_shop"
# Long enough for a customer to read a page before asking for help; the page is signed afresh
# at every load.
TOKEN_SECONDS = 30 * 60


def bank_identity(*, now: float | None = None) -> str:
    """The bank's signed identity of its (demo) signed-in customer."""
    issued = int(time.time() if now is None else now)
    customer = bank_data.CUSTOMER
    claims = {
        "sub": customer["id"],
        "name": customer["name"],
        "email": customer["email"],
        "aud": BANK_SITE_KEY,
        "iat": issued,
        "exp": issued + TOKEN_SECONDS,
    }
    return jwt.encode(claims, settings.DEMO_BANK_SECRET, algorithm="HS256")
