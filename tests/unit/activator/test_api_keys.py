"""API keys from a mounted Secret: matched by name, rotated without a restart (the kubelet's
``..data`` swap included), and never written to a log line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from diffusion_operator.activator.keys import KeyStore, bearer_token

ALICE = "sk-alice-0123456789abcdef"
BOB = "sk-bob-fedcba9876543210xyz"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def kubelet_secret(root: Path, keys: dict[str, str], version: int) -> Path:
    """The layout the kubelet writes: ``..<version>/<key>``, ``..data -> ..<version>``, ``<key> -> ..data/<key>``."""
    data = root / f"..2026_{version}"
    data.mkdir()
    for name, value in keys.items():
        (data / name).write_text(value + "\n")
    link = root / "..data_tmp"
    link.symlink_to(data.name)
    os.replace(link, root / "..data")
    for name in keys:
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")
    for stale in [p for p in root.iterdir() if p.is_symlink() and p.name != "..data" and not p.exists()]:
        stale.unlink()
    return root


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer ", None), (None, None),
    ("abc", None),
])
def test_only_a_bearer_token_is_read_from_the_authorization_header(header, token):
    assert bearer_token(header) == token


def test_a_valid_key_is_known_by_its_name_and_anything_else_is_not(tmp_path: Path):
    store = KeyStore(kubelet_secret(tmp_path, {"alice": ALICE, "bob": BOB}, 1), Clock())
    assert store.names() == ["alice", "bob"]
    assert store.authenticate(f"Bearer {ALICE}") == "alice"
    assert store.authenticate(f"Bearer {BOB}") == "bob"
    assert store.authenticate(f"Bearer {ALICE}x") is None
    assert store.authenticate(f"Bearer {ALICE[:-1]}") is None
    assert store.authenticate(None) is None


def test_a_rotated_key_takes_effect_without_a_restart_once_the_recheck_is_due(tmp_path: Path):
    clock = Clock()
    store = KeyStore(kubelet_secret(tmp_path, {"alice": ALICE}, 1), clock, recheck_s=1.0)
    assert store.authenticate(f"Bearer {ALICE}") == "alice"
    kubelet_secret(tmp_path, {"alice": "sk-alice-rotated-000000000", "bob": BOB}, 2)
    clock.now = 0.5
    assert store.authenticate(f"Bearer {ALICE}") == "alice", "rechecked at most once per second"
    clock.now = 1.5
    assert store.authenticate(f"Bearer {ALICE}") is None
    assert store.authenticate("Bearer sk-alice-rotated-000000000") == "alice"
    assert store.names() == ["alice", "bob"]


def test_a_missing_directory_means_no_keys_and_every_request_refused(tmp_path: Path):
    store = KeyStore(tmp_path / "absent", Clock())
    assert store.names() == []
    assert store.authenticate(f"Bearer {ALICE}") is None


def test_logs_name_keys_and_never_show_a_value(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    store = KeyStore(kubelet_secret(tmp_path, {"alice": ALICE, "short": "tiny", "empty": " "}, 1), Clock())
    store.authenticate("Bearer wrong")
    text = caplog.text
    assert "alice" in text and "short" in text and "empty" in text
    assert ALICE not in text and "tiny" not in text
    assert store.names() == ["alice", "short"]
