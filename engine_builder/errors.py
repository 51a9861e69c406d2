"""Typed build failures: each names what is wrong and what to do, and maps to one exit code.

The CLI turns them into a one-line JSON summary (the pod's termination message), so the operator can
set a condition reason from ``kind`` without parsing free text.
"""

from __future__ import annotations


class BuildError(RuntimeError):
    """Base class; ``kind`` becomes the ``error`` field of the summary and ``exit_code`` the status."""

    kind = "BuildFailed"
    exit_code = 1

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        #: Extra fields for the failure summary (the quality gate's scores), merged in by the CLI.
        self.details = details or {}


class PlanError(BuildError):
    kind = "InvalidPlan"
    exit_code = 2


class SourceError(BuildError):
    """The model source is unreachable, incomplete, or not an SDXL pipeline."""

    kind = "SourceUnavailable"
    exit_code = 3


class ExportError(BuildError):
    kind = "ExportFailed"
    exit_code = 4


class ParityError(ExportError):
    """ONNX Runtime disagrees with PyTorch above the stated tolerance: the export is wrong."""

    kind = "ParityFailed"


class TensorRTUnavailableError(BuildError):
    """TensorRT or a CUDA device is missing: engines are never faked, the build stops here."""

    kind = "TensorRTUnavailable"
    exit_code = 5


class RepositoryError(BuildError):
    """A generated Triton config does not parse or does not match its model's I/O."""

    kind = "RepositoryInvalid"


class QualityGateFailedError(BuildError):
    """The built engines' images scored below a threshold of ``spec.engine.qualityGate``: nothing published."""

    kind = "QualityGateFailed"
    exit_code = 6


class QualityGateUnavailableError(BuildError):
    """The gate could not score (empty or malformed prompts, a CLIP model that does not load, a crash)."""

    kind = "QualityGateUnavailable"
    exit_code = 7


class OutOfDiskError(BuildError):
    """A volume filled up mid-build (the cache volume or the scratch disk). Nothing was published: the
    partial directory is removed, so the next build starts clean once there is room."""

    kind = "OutOfDisk"
    exit_code = 8
