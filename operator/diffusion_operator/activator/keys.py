"""API keys read from the Secret the kubelet mounts (``spec.api.auth.secretRef``), rotated without a restart.

The Secret is a directory: one file per key, the file's name is the key's *name* (what logs and
metrics show), its content the key itself. The kubelet updates a Secret volume by swapping a
``..data`` symlink, so the files' inodes change; the store re-stats the directory at most every
``recheck_s`` and re-reads it when anything changed, which makes a rotation (a new value under the
same name, a key added or removed) take effect within the kubelet's sync period and one recheck.

A presented key is hashed and compared with every stored key's hash through
``hmac.compare_digest``, always against all of them: the time taken says neither which key nor how
much of one matched, and hashing first hides the keys' lengths. Values never leave this module: no
log line, metric label or error message carries one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

#: Keys shorter than this are accepted but named in a warning: they can be guessed.
SHORT_KEY_CHARS = 16
_BEARER = "bearer "

Fingerprint = tuple[tuple[str, int, int, int], ...]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme is case-insensitive)."""
    if authorization is None or authorization[: len(_BEARER)].lower() != _BEARER:
        return None
    token = authorization[len(_BEARER):].strip()
    return token or None


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class KeyStore:
    """The keys of one mounted Secret directory, by name; ``clock`` is injected for the tests."""

    def __init__(self, directory: Path, clock: Callable[[], float], recheck_s: float = 1.0) -> None:
        self.directory = directory
        self.clock = clock
        self.recheck_s = recheck_s
        self._digests: dict[str, bytes] = {}
        self._fingerprint: Fingerprint | None = None
        self._checked_at: float | None = None

    def names(self) -> list[str]:
        self._refresh_if_due()
        return sorted(self._digests)

    def authenticate(self, authorization: str | None) -> str | None:
        """The name of the key an ``Authorization`` header presents; None when it presents none that is valid."""
        self._refresh_if_due()
        token = bearer_token(authorization)
        if token is None:
            return None
        presented = _digest(token)
        matched = None
        for name, digest in self._digests.items():  # no early exit: every key costs the same
            if hmac.compare_digest(presented, digest):
                matched = name
        return matched

    def _refresh_if_due(self) -> None:
        now = self.clock()
        if self._checked_at is not None and now - self._checked_at < self.recheck_s:
            return
        self._checked_at = now
        fingerprint = self._stat()
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self._digests = self._read(fingerprint)

    def _stat(self) -> Fingerprint:
        """Name, inode, size and mtime of every key file (dotfiles are the kubelet's bookkeeping)."""
        entries = []
        try:
            with os.scandir(self.directory) as scan:
                for entry in scan:
                    if entry.name.startswith("."):
                        continue
                    try:
                        stat = entry.stat()  # follows the kubelet's symlinks into ..data
                    except OSError:
                        continue
                    entries.append((entry.name, stat.st_ino, stat.st_size, stat.st_mtime_ns))
        except OSError as error:
            log.warning("API keys directory %s is not readable: %s", self.directory, error.strerror or error)
        return tuple(sorted(entries))

    def _read(self, fingerprint: Fingerprint) -> dict[str, bytes]:
        digests = {}
        for name, *_ in fingerprint:
            try:
                value = (self.directory / name).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as error:
                log.warning("API key %s is not readable: %s", name, type(error).__name__)
                continue
            if not value:
                log.warning("API key %s is empty: ignored", name)
                continue
            if len(value) < SHORT_KEY_CHARS:
                log.warning("API key %s is shorter than %d characters: easy to guess", name, SHORT_KEY_CHARS)
            digests[name] = _digest(value)
        if digests:
            log.info("API keys loaded: %s", ", ".join(sorted(digests)))
        else:
            log.warning("no API keys in %s: every request is refused (401)", self.directory)
        return digests
