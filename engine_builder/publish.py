"""Content-addressed, atomic publishing of a built repository under ``<out>/<cache_key>/``.

A build writes into ``<out>/.partial-<key>-<pid>/``; ``manifest.json`` is written last, everything is
fsynced, and one ``rename`` makes it visible. So ``<out>/<key>/`` either does not exist or is
complete: a killed build leaves only a ``.partial-*`` directory, which :func:`sweep_partials`
removes once its writer is gone. A published directory is a cache hit when its manifest names the
same key and every file it lists exists with the recorded size (hashing gigabytes of engines would
not fit the "cache hit in under a second" budget; sha256s are in the manifest for audits).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from engine_builder.layout import MANIFEST_FILE

MANIFEST = MANIFEST_FILE
PARTIAL_PREFIX = ".partial-"
#: Scratch space of a build (downloaded sources, raw ONNX); never published, swept like partials.
WORK_PREFIX = ".work-"
MANIFEST_FORMAT = 1


def partial_dir(out: Path, key: str, pid: int) -> Path:
    return out / f"{PARTIAL_PREFIX}{key}-{pid}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_records(root: Path) -> dict[str, dict[str, Any]]:
    """relative path -> {sha256, bytes} for every file under ``root`` (manifest excluded)."""
    records = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        if "__pycache__" in path.parts:
            continue
        records[str(path.relative_to(root))] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return records


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((directory / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def is_complete(directory: Path, key: str) -> bool:
    """A cache hit: the manifest is for ``key`` and every listed file is there with its size."""
    manifest = read_manifest(directory)
    if manifest is None or manifest.get("cache_key") != key:
        return False
    files = manifest.get("files", {})
    return all(
        (directory / name).is_file() and (directory / name).stat().st_size == record["bytes"]
        for name, record in files.items()
    )


def fsync_tree(root: Path) -> None:
    """fsync every file, then every directory bottom-up, so the rename publishes durable data."""
    directories = [root]
    for path in root.rglob("*"):
        if path.is_dir():
            directories.append(path)
        elif path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def publish(staging: Path, out: Path, key: str, manifest: dict[str, Any]) -> Path:
    """Write the manifest into ``staging``, fsync, rename to ``out/key``; losing a race is a hit."""
    manifest = {**manifest, "format": MANIFEST_FORMAT, "cache_key": key, "files": file_records(staging)}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    fsync_tree(staging)
    target = out / key
    if target.exists() and not is_complete(target, key):
        shutil.rmtree(target)  # an older incomplete layout (never produced by this code) is replaced
    try:
        os.rename(staging, target)
    except OSError:
        if not is_complete(target, key):
            raise
        shutil.rmtree(staging, ignore_errors=True)  # a concurrent build published the same key first
    descriptor = os.open(out, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return target


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def work_dir(out: Path, key: str, pid: int) -> Path:
    return out / f"{WORK_PREFIX}{key}-{pid}"


def sweep_partials(out: Path, key: str) -> list[Path]:
    """Remove ``.partial-<key>-<pid>`` and ``.work-<key>-<pid>`` dirs whose process no longer exists."""
    removed = []
    candidates = sorted([*out.glob(f"{PARTIAL_PREFIX}{key}-*"), *out.glob(f"{WORK_PREFIX}{key}-*")])
    for path in candidates:
        suffix = path.name.rsplit("-", 1)[-1]
        if suffix.isdigit() and not pid_alive(int(suffix)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
