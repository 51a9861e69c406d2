"""Label keys and quantities: the Python mirrors of the rules the CRD runs at admission."""

from __future__ import annotations

from decimal import Decimal

import pytest
from diffusion_operator.api.labels import is_label_key
from diffusion_operator.api.quantity import GIB, gib_text, mebibytes, parse_quantity


@pytest.mark.parametrize(
    "key", ["app", "app.kubernetes.io/name", "kubernetes.io/metadata.name", "a_b-c.d", "A1", f"{'p' * 253}/{'n' * 63}"]
)
def test_label_keys_that_kubernetes_accepts(key: str) -> None:
    assert is_label_key(key)


@pytest.mark.parametrize(
    "key", ["", "-app", "app-", "pool name", "a/b/c", "UPPER.example.com/x", "/x", "x/", "n" * 64, f"{'p' * 254}/x"]
)
def test_label_keys_that_kubernetes_refuses(key: str) -> None:
    assert not is_label_key(key)


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        (4, Decimal(4)),
        ("500m", Decimal("0.5")),
        ("32Gi", Decimal(32 * 2**30)),
        ("1e3", Decimal(1000)),
        ("1.5k", Decimal(1500)),
        (".5", Decimal("0.5")),
        ("2E-3", Decimal("0.002")),
        ("1024Mi", Decimal(2**30)),
    ],
)
def test_quantities_parse_to_exact_amounts(text: int | str, amount: Decimal) -> None:
    assert parse_quantity(text) == amount


@pytest.mark.parametrize("text", ["-1", "lots", "1 Gi", "1gi", ""])
def test_what_is_not_an_unsigned_quantity_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(("amount", "gib", "mib"), [
    (16 * GIB, "16.0 GiB", "16384Mi"),
    (int(16.1 * GIB), "16.1 GiB", "16487Mi"),  # never rounded down: a request covers its figure
    (30_442_976 * 1024, "29.0 GiB", "29730Mi"),
    (1, "0.0 GiB", "1Mi"),
])
def test_memory_reads_in_gib_and_requests_in_whole_mib(amount: int, gib: str, mib: str) -> None:
    assert (gib_text(amount), mebibytes(amount)) == (gib, mib)
