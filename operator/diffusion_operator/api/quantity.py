"""Resource quantities as numbers, to mirror the CEL ``quantity()`` comparisons the CRD runs.

Only what the spec needs: parse a validated quantity (``500m``, ``32Gi``, ``1e3``, ``4``) into an
exact ``Decimal`` so that ``requests <= limits`` is checked the same way in Python as at admission.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9.]+)?$")


def parse_quantity(value: int | str) -> Decimal:
    """The amount a quantity stands for; ``ValueError`` for text that is not an unsigned quantity."""
    if isinstance(value, int):
        return Decimal(value)
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a quantity")
    number, suffix = Decimal(match["number"]), match["suffix"] or ""
    if suffix[:1] in ("e", "E"):
        return number.scaleb(int(Decimal(suffix[1:])))
    return number * _SUFFIX[suffix]


GIB = 2**30
MIB = 2**20


def gib_text(amount: Decimal | int) -> str:
    """Bytes as people read memory in a message, e.g. ``16.1 GiB`` (one decimal, as ``kubectl top`` rounds)."""
    return f"{Decimal(amount) / GIB:.1f} GiB"


def mebibytes(amount: Decimal | int) -> str:
    """Bytes as a quantity in whole MiB, rounded up: a request is never below the figure it came from."""
    return f"{math.ceil(Decimal(amount) / MIB)}Mi"
