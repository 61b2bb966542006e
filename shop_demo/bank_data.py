"""The demo bank's customer: fixed accounts and a few recent transactions.

Static on purpose: the bank pages exist to be co-browsed, not to move money. Dates are relative
to today so the statement never looks stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from .validators import iban_grouped

# The signed-in customer every bank page shows (and signs: shop_demo/identity.py).
CUSTOMER = {"id": "nb-10482", "name": "Alex Morgan", "email": "alex.morgan@example.com"}


@dataclass(frozen=True)
class Account:
    slug: str
    name: str
    iban: str
    balance: Decimal

    @property
    def iban_display(self) -> str:
        return iban_grouped(self.iban)


@dataclass(frozen=True)
class Transaction:
    date: dt.date
    counterparty: str
    description: str
    amount: Decimal  # negative: money out


ACCOUNTS: tuple[Account, ...] = (
    Account("everyday", "Everyday account", "DE89370400440532013000", Decimal("2481.37")),
    Account("savings", "Rainy-day savings", "DE02120300000000202051", Decimal("12950.00")),
    Account("joint", "Joint household", "DE44500105175407324931", Decimal("634.18")),
)

# Transfers leave from the everyday account; its balance is the most a transfer may move.
TRANSFER_ACCOUNT = ACCOUNTS[0]

# (days ago, counterparty, description, amount)
_RECENT = (
    (0, "Fernhill Goods", "Card payment", "-54.90"),
    (1, "Stadtwerke", "Electricity, monthly", "-72.00"),
    (2, "Anna Keller", "Concert tickets, thanks!", "45.00"),
    (4, "Bäckerei Sonnenschein", "Card payment", "-8.40"),
    (6, "Acme Software GmbH", "Salary", "3120.55"),
    (7, "Hausverwaltung Meyer", "Rent", "-980.00"),
    (9, "City Transit", "Monthly pass", "-86.00"),
    (12, "Rainy-day savings", "Standing order", "-250.00"),
)


def recent_transactions(*, today: dt.date) -> list[Transaction]:
    """The everyday account's latest transactions, newest first."""
    return [
        Transaction(today - dt.timedelta(days=days), who, what, Decimal(amount))
        for days, who, what, amount in _RECENT
    ]


def total_balance() -> Decimal:
    return sum((account.balance for account in ACCOUNTS), Decimal("0.00"))
