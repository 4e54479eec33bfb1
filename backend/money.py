"""Money: Decimal amounts with an ISO-4217 currency, rounded to the currency's own minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision, list_currencies

ZERO = Decimal("0")
# What a NUMERIC(19,4) column holds: under 10^15, at most four decimals. Larger input is refused by
# name before it reaches the database, where it would fail (or be silently rounded).
LARGEST_AMOUNT = Decimal(10) ** 15
STORED_DECIMALS = 4


@cache
def known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str | None) -> bool:
    return bool(code) and code in known_currencies()


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-get_currency_precision(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half up to the currency's minor unit (CNY 0.01, JPY 1, KWD 0.001), as invoices are printed."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def parse_decimal(raw: str | Decimal | int | None) -> Decimal | None:
    """A decimal from text as finance systems write it ("1,234.50", " 12 "); None when it is not one."""
    if raw is None:
        return None
    if isinstance(raw, Decimal):
        return raw if raw.is_finite() else None
    if isinstance(raw, int):
        return Decimal(raw)
    text = str(raw).strip().replace(",", "").replace(" ", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def storable(value: Decimal) -> bool:
    """Fits a NUMERIC(19,4) column exactly: finite, under 10^15 and at most four decimals."""
    return value.is_finite() and abs(value) < LARGEST_AMOUNT and value.as_tuple().exponent >= -STORED_DECIMALS


def as_typed(value: Decimal) -> str:
    """12.5000 as 12.5, and 0E-4 as 0: a quantity or rate as a person would type it."""
    normal = Decimal(value).normalize()
    return format(normal if normal != 0 else ZERO, "f")
