"""The payment platform stand-in's rules. Pure.

The stand-in plays the citizen too: a fee requested is paid at once, online for a seeded share of the
payments and at the counter for the rest (both are recorded by the platform; QĐ 766/QĐ-TTg counts the share
paid online). A payment reference is settled at most once, however often its request is delivered.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from typing import Any


class PaymentRefused(ValueError):
    """A fee request the platform cannot take (wrong currency, an amount that is not positive)."""


def settle(
    ledger: Mapping[str, Any] | None,
    request: Mapping[str, Any],
    *,
    now: dt.datetime,
    seed: int,
    online_share: float,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The dossier's ledger after a fee request, and the FeeSettled body (None: that reference was settled
    already, nothing more is paid)."""
    reference = request["payment_reference"]
    amount = request["amount"]
    if amount["currency"] != "VND" or amount["amount"] <= 0:
        raise PaymentRefused(f"{reference}: cannot collect {amount['amount']} {amount['currency']}")
    settled = dict((ledger or {}).get("settled", {}))
    if reference in settled:
        return dict(ledger or {}), None
    paid_online = random.Random(f"{seed}/{reference}").random() < online_share
    settlement = {
        "dossier_code": request["dossier_code"],
        "payment_reference": reference,
        "amount": dict(amount),
        "paid_online": paid_online,
        "settled_at": now,
    }
    settled[reference] = {"amount": amount["amount"], "paid_online": paid_online, "at": now.isoformat()}
    return {"settled": settled}, settlement
