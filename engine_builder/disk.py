"""Out of disk mid-build: find the ENOSPC behind a wrapped error and say what is left where.

A full-size fp32 build writes 12.8 GiB to the cache volume and as much again to scratch while it
exports, so a volume that fills up is a failure a platform team will meet. Without this it surfaced
as whatever library was writing at the time (torch's exporter, ONNX, the publish copy), often as
an ``ExportFailed`` that reads like a model problem.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


def no_space_left(err: BaseException) -> OSError | None:
    """The ENOSPC behind ``err``, if any: torch's exporter and ONNX's writer wrap their OSErrors."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def free_gib(path: Path) -> str:
    try:
        return f"{shutil.disk_usage(path).free / 2**30:.1f} GiB"
    except OSError:
        return "unknown"


def out_of_disk_message(full: OSError, out: Path, scratch: Path) -> str:
    """What filled up and how much is left on both volumes a build writes to."""
    where = f" writing {full.filename}" if full.filename else ""
    return (f"no space left on device{where}; free now: {free_gib(out)} on the engine cache ({out}), "
            f"{free_gib(scratch)} in scratch ({scratch}). Nothing was published. A full-size fp32 repository "
            "takes 12.8 GiB on the cache and about as much again in scratch while it is exported: give the "
            "engine cache claim or the node's ephemeral storage more room")
