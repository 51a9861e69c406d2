"""The build's quality gate: score what was built against the reference before anything is published.

Called by build.py after the engines (GPU) or ONNX models (CPU) exist and before the repository is
published. It returns the report that goes into the manifest and the termination message, and raises
:class:`QualityGateFailedError` (nothing is published; the previous engine keeps serving) or
:class:`QualityGateUnavailableError` (the gate could not score: empty or malformed prompts, a CLIP model
that does not load, an evaluation that crashed; publishing then waits unless ``onUnavailable`` is
``Publish``). For 8-bit builds a failed first calibration is not the end: ``recalibrate(attempt)``
produces another quantization from other calibration latents, up to ``calibrationAttempts`` in all,
and the best one that passes is kept (ModelOpt's calibration is not deterministic; NVIDIA advises
calibrating a few times and keeping the best).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine_builder.errors import QualityGateFailedError, QualityGateUnavailableError
from engine_builder.pipeline import Component
from engine_builder.quality.adherence import AdherenceScorer, load_clip_scorer
from engine_builder.quality.evaluate import Evaluation, judge, render_references, step_curve
from engine_builder.quality.prompts import parse_prompt_set
from engine_builder.quality.render import Renderer, candidate_renderer, reference_renderer
from engine_builder.quality.report import disabled_report, quality_report, unavailable_report
from engine_builder.quality.verdict import Scores, best_attempt
from engine_builder.quality_settings import QualityGateSettings

LOG = logging.getLogger("engine_builder")

#: ``recalibrate(attempt) -> {component: new artefact}``: the quantized components calibrated again.
Recalibrate = Callable[[int], Mapping[str, Path]]
#: ``load(artefacts) -> components``: ONNX Runtime sessions (CPU) or TensorRT engines (GPU).
LoadComponents = Callable[[Mapping[str, Path]], Mapping[str, Component]]


@dataclass(frozen=True)
class Candidate:
    """What was built, as the gate renders it: ``renderer_for(artefacts)`` renders with those artefacts."""

    artefacts: Mapping[str, Path]
    renderer_for: Callable[[Mapping[str, Path]], Renderer]
    size: tuple[int, int]


def serving_candidate(pipeline_dir: Path, artefacts: Mapping[str, Path], load: LoadComponents,
                      size: tuple[int, int], settings: QualityGateSettings) -> Candidate:
    """The serving loop (pipeline.py) over the components ``load`` makes of the artefacts."""

    def renderer_for(paths: Mapping[str, Path]) -> Renderer:
        return candidate_renderer(pipeline_dir, load(paths), size, settings.guidance_scale, settings.scheduler)

    return Candidate(artefacts, renderer_for, size)


@dataclass
class GateOutcome:
    #: For the termination message and status (small); ``full`` goes into the manifest.
    report: dict[str, Any]
    full: dict[str, Any]
    #: Artefacts of a later calibration attempt that replace the first ones (empty: keep them).
    replaced: dict[str, Path] = field(default_factory=dict)


def run_gate(settings: QualityGateSettings | None, source: Path, candidate: Candidate, *,
             recalibrate: Recalibrate | None = None, scorer: AdherenceScorer | None = None,
             pvc_root: Path | None = None, device: str = "cpu",
             make_reference: Callable[..., Renderer] = reference_renderer) -> GateOutcome:
    """Score, decide, and raise on failure; an unscorable build follows ``onUnavailable``.

    ``make_reference(source, size, guidance, device)`` renders the reference (fp32 diffusers; tests
    hand in their own).
    """
    settings = settings or QualityGateSettings()
    if not settings.enabled:
        report = disabled_report()
        return GateOutcome(report, report)
    try:
        return _scored(settings, source, candidate, recalibrate, scorer, pvc_root, device, make_reference)
    except QualityGateFailedError:
        raise
    except QualityGateUnavailableError as err:
        return _unavailable(str(err), settings)
    except Exception as err:  # an evaluation that crashed is a named cause, never a silent pass
        LOG.exception("quality evaluation crashed")
        return _unavailable(f"the evaluation crashed: {type(err).__name__}: {err}", settings)


def _unavailable(cause: str, settings: QualityGateSettings) -> GateOutcome:
    report = unavailable_report(cause, settings)
    if settings.on_unavailable == "Block":
        raise QualityGateUnavailableError(f"quality gate unavailable: {cause}", details={"quality": report})
    LOG.warning("quality gate unavailable, publishing anyway (onUnavailable: Publish): %s", cause)
    return GateOutcome(report, report)


def _scored(settings: QualityGateSettings, source: Path, candidate: Candidate, recalibrate: Recalibrate | None,
            scorer: AdherenceScorer | None, pvc_root: Path | None, device: str,
            make_reference: Callable[..., Renderer]) -> GateOutcome:
    started = time.monotonic()
    cases = parse_prompt_set(settings.prompts)
    if settings.clip_source:
        scorer = load_clip_scorer(settings.clip_source, pvc_root, device)
    reference = make_reference(source, candidate.size, settings.guidance_scale, device)
    references = render_references(reference, cases, settings.steps, scorer)

    attempts: list[tuple[Scores, list[str]]] = []
    renderers: list[Renderer] = []
    replacements: list[dict[str, Path]] = []
    total = settings.calibration_attempts if recalibrate is not None else 1
    for attempt in range(total):
        replaced = dict(recalibrate(attempt)) if attempt and recalibrate is not None else {}
        render = candidate.renderer_for({**candidate.artefacts, **replaced})
        scores, failures = judge(render, references, settings, scorer)
        LOG.info("quality attempt %d/%d: worst ssim %.4f, worst psnr %.2f dB, %s", attempt + 1, total,
                 scores.worst_ssim, scores.worst_psnr_db, "; ".join(failures) or "passed")
        attempts.append((scores, failures))
        renderers.append(render)
        replacements.append(replaced)
    chosen = best_attempt(attempts)
    index = chosen if chosen is not None else 0
    scores, failures = attempts[index]
    curve = step_curve(renderers[index], references, settings, scorer, scores)
    evaluation = Evaluation(scores, failures, curve)
    evaluation.seconds = round(time.monotonic() - started, 3)
    return _decided(evaluation, settings, cases, len(attempts), replacements[index])


def _decided(evaluation: Evaluation, settings: QualityGateSettings, cases: Any, attempts: int,
             replaced: dict[str, Path]) -> GateOutcome:
    report = quality_report(evaluation, settings, cases, attempts=attempts)
    full = quality_report(evaluation, settings, cases, attempts=attempts, full=True)
    if not evaluation.passed:
        raise QualityGateFailedError(f"quality gate failed: {report['message']}", details={"quality": report})
    return GateOutcome(report, full, replaced)
