# diffusion-operator: every target installs what it needs (pinned, cached) before it runs.
#   make demo   - the main job on the local test bed
#   make test   - lint, types, import contracts, unit + integration + e2e tests
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: docs images-push
.PHONY: help setup venv system-deps binaries test lint typecheck contracts generated pytest unit unit-without-builder \
        faults integration e2e realnode demo demo-binaries demo-down tiny-model bench gpu-check realsize realsize-build realsize-serve generate lock clean images gotest

help:
	@echo "make demo   - run the main job on the embedded local test bed"
	@echo "make test   - everything CI checks"
	@echo "make bench  - benchmarks (figures go to docs/benchmarks.md)"
	@echo "make docs   - the docs site into site/ (mkdocs build --strict)"
	@echo "make realnode - only the tests that run containers on the real kubelet node"
	@echo "make realsize - the full-size SDXL build on CPU, measured (time, peak RSS), then served on the real node"
	@echo "make gpu-check - full-size SDXL on a CUDA GPU (exits 0 without one)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip==25.3"
	$(PY) -m pip install -q -c constraints.txt -e ".[builder,testbed,dev,docs]"
	touch $@

venv: $(STAMP)

system-deps:
	bash tools/system-deps.sh

binaries:
	bash tools/build-binaries.sh

# The demo runs no kubectl and no registry (only tests do): 2 min less on a fresh machine.
DEMO_BINARIES := etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kwok helm metrics-adapter
demo-binaries:
	bash tools/build-binaries.sh $(DEMO_BINARIES)

setup: venv system-deps binaries

lint: venv
	$(PY) -m ruff check .

# Held to mypy --strict: the pure core (deciders and builders with no I/O), the settings, and the
# edges that run beside the handlers on their own (the activator, the Triton edge, the exporter).
STRICT_CORE := $(wildcard operator/diffusion_operator/api operator/diffusion_operator/engines \
	operator/diffusion_operator/render operator/diffusion_operator/autoscaling \
	operator/diffusion_operator/metrics operator/diffusion_operator/reconcile engine_builder \
	operator/diffusion_operator/dashboards operator/diffusion_operator/alerts.py \
	operator/diffusion_operator/client operator/diffusion_operator/activator \
	operator/diffusion_operator/triton operator/diffusion_operator/telemetry.py \
	operator/diffusion_operator/config.py operator/diffusion_operator/reference)

typecheck: venv
	$(PY) -m mypy
	$(PY) -m mypy --strict $(STRICT_CORE)

contracts: venv
	PYTHONPATH=operator:. $(VENV)/bin/lint-imports

# The real-node tests and the rest as two pytest sessions side by side, each with its own test bed
# (tools/pytest_streams.py says why); `$(PY) -m pytest` runs them one after the other.
pytest: setup
	$(PY) tools/pytest_streams.py $(PYTEST_ARGS)

# Generated artefacts (CRDs, chart CRDs, install.yaml, dashboards, alert rules) match their sources.
generated: setup
	$(PY) tools/generate.py --check

generate: setup
	$(PY) tools/generate.py

# The metrics adapter's Go tests (tools/gobin/metrics-adapter; same flags as `make binaries`, so its
# build cache serves them).
gotest:
	cd tools/gobin/metrics-adapter && GOFLAGS="-buildvcs=false -trimpath" CGO_ENABLED=0 go test ./...

test: setup images lint typecheck contracts generated docs gotest pytest

unit: venv
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

# The unit tests as they run where the [builder] extra (torch, ONNX, ...) is not installed: those
# that need it skip with the reason (tests/builder_extra.py, tests/hide_builder_extra.py).
unit-without-builder: venv
	$(PY) -m pytest -m unit -p tests.hide_builder_extra $(PYTEST_ARGS)

integration: setup
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

e2e: setup
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

# Everything that runs the product's containers on the real node (also part of `make test`).
realnode: setup images
	$(PY) -m pytest -m realnode $(PYTEST_ARGS)

# The fault-injection suite alone (also part of `make test`); its figures land in bench/results/faults/.
faults: setup
	FAULTS_RESULTS=bench/results/faults FAULTS_CHURN_SERVICES=1000 $(PY) -m pytest tests/e2e/faults $(PYTEST_ARGS)

bench: setup images
	$(PY) -m bench.testbed_start
	$(PY) -m bench.realnode_startup
	$(PY) -m bench.realnode_scale_from_zero
	$(PY) -m bench.sim_to_real
	$(PY) -m bench.activator_overhead
	$(PY) -m bench.openai_overhead
	$(PY) -m bench.operator_scale
	$(PY) -m bench.autoscaler
	$(PY) -m bench.autoscaler --node-provisioning
	$(PY) bench/engine_builder/triton_overhead.py

# The full-size SDXL build on CPU (random weights, no download): time and peak RSS per stage, up to the
# TensorRT build call (fp16) and for the CPU serving path (fp32), about 25 min and 14 GiB here; then
# Triton on the real node serves an image from the full-size repository (realsize-serve, about 20 min,
# 14 GiB of RAM, 20 GiB of disk). Not part of `make test` or `make bench` (docs/real-size.md).
realsize: realsize-build realsize-serve

realsize-build: venv
	$(PY) bench/engine_builder/realsize.py

realsize-serve: setup images
	DIFFUSION_REALSIZE=1 REALSIZE_RESULTS=bench/results/realsize_serving.json \
		$(PY) -m pytest tests/e2e/realnode/test_realnode_realsize.py $(PYTEST_ARGS)

# Full-size SDXL on a CUDA GPU in under 8 minutes (PyTorch eager; ONNX Runtime's CUDA path in Triton);
# without a GPU it says so and exits 0. Writes bench/results/gpu_check.json.
gpu-check: venv
	$(PY) bench/gpu_check.py

# The product's container images for the test bed's real node, built with buildah (no registry) and
# cached as archives in ~/.cache/diffusion-operator/images; only what changed is rebuilt. IMAGES=name...
# builds some of them. See docs/images.md.
images: venv
	bash tools/system-deps.sh images
	$(PY) -m testbed.images build $(IMAGES)

# Retrain the built-in tiny SDXL, its inpainting UNet and segmenter (CPU, ~1 h, deterministic) and
# rewrite engine_builder/weights (safetensors + manifest.json with the held-out scores); then the grid
# and the step-curve figure.
tiny-model: venv
	$(PY) -m engine_builder.training
	$(PY) -m engine_builder.training.grid docs/images/tiny-model-grid.png
	$(PY) -m engine_builder.quality.curve_figure docs/images/tiny-model-steps.png

demo: venv system-deps demo-binaries images
	$(VENV)/bin/testbed demo $(DEMO_ARGS)

demo-down: venv
	$(VENV)/bin/testbed down

# The docs site (MkDocs + Material) into site/: README.md is its front page, docs/ its pages. --strict
# turns every warning into a failure: a broken link or anchor inside the site (MkDocs' validation),
# a link out of docs/ to a file that is not in the repository (tools/mkdocs_hooks.py).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

# Copy the images `make images` built to your registry (skopeo; `skopeo login` first) and print the chart
# values that name them: make images-push REGISTRY=us-docker.pkg.dev/PROJECT/diffusion [IMAGES=operator].
images-push: images
	@test -n "$(REGISTRY)" || { echo "usage: make images-push REGISTRY=host/path [IMAGES=name...]" >&2; exit 2; }
	$(PY) -m testbed.registry push $(REGISTRY) $(IMAGES)

lock: venv
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	-$(VENV)/bin/testbed down
	rm -rf $(VENV) .state .mypy_cache .ruff_cache .pytest_cache
