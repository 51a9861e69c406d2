"""``engine-builder build --plan plan.json --out <cache-dir>``: the build Job's entry point.

Logs (progress lines) go to stderr; stdout carries exactly one JSON line, the summary, which is also
written to ``/dev/termination-log`` when that exists and is writable (Kubernetes then shows it as the
container's termination message, and the operator reads the status from there). Exit codes come
from :mod:`engine_builder.errors` so a bad plan (2) is distinguishable from a bad source (3).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from engine_builder.errors import BuildError, PlanError
from engine_builder.plan import BuildPlan

app = typer.Typer(add_completion=False, help="Build SDXL engines and their Triton model repository.")
TERMINATION_LOG = Path("/dev/termination-log")
#: Kubernetes keeps at most 4096 bytes of a termination message.
TERMINATION_LIMIT = 4096


def format_validation_error(error: ValidationError) -> str:
    """``plan.<field path>: <message>`` per problem, e.g. ``plan.resolutions.0.width: ...``."""
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        lines.append(f"plan.{location}: {item['msg']}" if location else f"plan: {item['msg']}")
    return "; ".join(lines)


def load_plan(path: Path) -> BuildPlan:
    try:
        raw = json.loads(path.read_text())
    except OSError as err:
        raise PlanError(f"plan: cannot read {path}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise PlanError(f"plan: {path} is not valid JSON: {err}") from err
    try:
        return BuildPlan.model_validate(raw)
    except ValidationError as err:
        raise PlanError(format_validation_error(err)) from err


def emit(result: dict[str, Any], termination_log: Path) -> None:
    """Print the summary line and, in a pod, leave it as the termination message.

    Only an existing writable file is written: the kubelet creates it in pods, and a developer
    running as root must not get a stray file in /dev.
    """
    line = json.dumps(result, sort_keys=True)
    typer.echo(line)
    if termination_log.is_file() and os.access(termination_log, os.W_OK):
        try:
            termination_log.write_text(line[:TERMINATION_LIMIT])
        except OSError:
            logging.getLogger("engine_builder").warning("could not write %s", termination_log)


def configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("polygraphy", "diffusers", "transformers", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
        from polygraphy.logger import G_LOGGER

        G_LOGGER.module_severity = G_LOGGER.WARNING
    except ImportError:  # the summary must still come out if the ML stack is broken
        pass


@app.callback()
def main() -> None:
    """SDXL engine builder."""


@app.command()
def build(
    plan: Annotated[Path, typer.Option(help="plan.json written by the operator")],
    out: Annotated[Path, typer.Option(help="cache directory; the result goes to <out>/<cache_key>/")],
    pvc_root: Annotated[Path | None, typer.Option(envvar="PVC_ROOT", help="where pvc://<claim>/ is mounted")] = None,
    hf_cache: Annotated[Path | None, typer.Option(help="huggingface_hub cache dir (default: HF_HOME)")] = None,
    log_level: Annotated[str, typer.Option(help="logging level")] = "INFO",
    termination_log: Annotated[Path, typer.Option(help="termination message path")] = TERMINATION_LOG,
) -> None:
    """Build (or find in the cache) the Triton model repository for PLAN."""
    configure_logging(log_level)
    started = time.monotonic()
    try:
        parsed = load_plan(plan)
        # Imported here, inside the try: even a broken install still leaves a summary behind.
        from engine_builder.build import BuildOptions  # noqa: PLC0415
        from engine_builder.build import build as run_build  # noqa: PLC0415

        result = run_build(parsed, out, BuildOptions(pvc_root=pvc_root, hf_cache=hf_cache))
    except BuildError as err:
        logging.getLogger("engine_builder").error("%s: %s", err.kind, err)
        emit({"status": "failed", "error": err.kind, "message": str(err)[:1000],
              "seconds": round(time.monotonic() - started, 3), **err.details}, termination_log)
        raise typer.Exit(err.exit_code) from err
    except Exception as err:  # a bug or an unexpected library error: still leave a summary
        logging.getLogger("engine_builder").exception("unexpected failure")
        emit({"status": "failed", "error": BuildError.kind, "message": f"{type(err).__name__}: {err}"[:2000],
              "seconds": round(time.monotonic() - started, 3)}, termination_log)
        raise typer.Exit(BuildError.exit_code) from err
    emit(result, termination_log)


@app.command()
def evaluate(
    repository: Annotated[Path, typer.Option(help="a published model_repository (CPU/ONNX Runtime build)")],
    source: Annotated[str, typer.Option(help="the model source the reference renders from")] = "builtin://tiny-sdxl",
    prompts: Annotated[Path | None, typer.Option(help="JSON list of {prompt, seed}; default: the built-in set")] = None,
    clip_source: Annotated[str | None, typer.Option(help="open_clip ViT-B-32 'openai' weights file")] = None,
    steps: Annotated[int, typer.Option(help="configured steps (the reference's)")] = 30,
    step_counts: Annotated[str, typer.Option(help="comma-separated fewer step counts for the curve")] = "",
    size: Annotated[int, typer.Option(help="square image size of the evaluation")] = 64,
    pvc_root: Annotated[Path | None, typer.Option(envvar="PVC_ROOT", help="where pvc://<claim>/ is mounted")] = None,
    log_level: Annotated[str, typer.Option(help="logging level")] = "INFO",
) -> None:
    """Score REPOSITORY against the fp32 reference; prints the full report, exit 6 when it fails the gate."""
    configure_logging(log_level)
    import tempfile  # noqa: PLC0415

    from engine_builder.errors import QualityGateFailedError  # noqa: PLC0415
    from engine_builder.gating import published_candidate  # noqa: PLC0415
    from engine_builder.quality.gate import run_gate  # noqa: PLC0415
    from engine_builder.quality.prompts import load_prompt_file  # noqa: PLC0415
    from engine_builder.quality_settings import QualityGateSettings  # noqa: PLC0415
    from engine_builder.sources import resolve_source  # noqa: PLC0415

    try:
        counts = tuple(int(c) for c in step_counts.split(",") if c.strip())
        cases = load_prompt_file(prompts) if prompts else None
        settings = QualityGateSettings(
            clip_source=clip_source, steps=steps, step_counts=counts,
            prompts=tuple(c.model_dump() for c in cases) if cases else None)
        with tempfile.TemporaryDirectory() as work:
            source_dir = resolve_source(source, Path(work), pvc_root=pvc_root)
            outcome = run_gate(settings, source_dir, published_candidate(repository, (size, size), settings),
                               pvc_root=pvc_root)
        typer.echo(json.dumps(outcome.full, sort_keys=True))
    except QualityGateFailedError as err:
        typer.echo(json.dumps(err.details.get("quality", {}), sort_keys=True))
        raise typer.Exit(err.exit_code) from err
    except (BuildError, ValueError, OSError) as err:
        typer.echo(json.dumps({"verdict": "Unavailable", "message": str(err)}), err=False)
        raise typer.Exit(BuildError.exit_code) from err


@app.command()
def references(
    out: Annotated[Path, typer.Option(help="directory for the PNGs and references.json")],
    source: Annotated[str, typer.Option(help="the model source the reference renders from")] = "builtin://tiny-sdxl",
    prompts: Annotated[Path | None, typer.Option(help="JSON list of {prompt, seed}; default: the built-in set")] = None,
    steps: Annotated[int, typer.Option(help="denoising steps")] = 30,
    guidance: Annotated[float, typer.Option(help="classifier-free guidance")] = 5.0,
    size: Annotated[int, typer.Option(help="square image size")] = 64,
    pvc_root: Annotated[Path | None, typer.Option(envvar="PVC_ROOT", help="where pvc://<claim>/ is mounted")] = None,
    log_level: Annotated[str, typer.Option(help="logging level")] = "INFO",
) -> None:
    """Render the fp32 reference images ``diffusion evaluate`` compares a running service with."""
    configure_logging(log_level)
    import tempfile  # noqa: PLC0415

    from engine_builder.quality.evaluate import render_references  # noqa: PLC0415
    from engine_builder.quality.prompts import DEFAULT_PROMPTS, load_prompt_file  # noqa: PLC0415
    from engine_builder.quality.references import write_references  # noqa: PLC0415
    from engine_builder.quality.render import reference_renderer  # noqa: PLC0415
    from engine_builder.sources import resolve_source  # noqa: PLC0415

    cases = load_prompt_file(prompts) if prompts else DEFAULT_PROMPTS
    with tempfile.TemporaryDirectory() as work:
        source_dir = resolve_source(source, Path(work), pvc_root=pvc_root)
        rendered = render_references(reference_renderer(source_dir, (size, size), guidance), cases, steps, None)
    index = write_references(out, rendered, steps=steps, guidance=guidance, size=(size, size), source=source)
    typer.echo(json.dumps({"references": str(index), "images": len(cases)}))


if __name__ == "__main__":
    app()
