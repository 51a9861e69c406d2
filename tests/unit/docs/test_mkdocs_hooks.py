"""The docs site's hooks: links written for GitHub work on the site, and a link to nothing fails the build."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[3]


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", REPO / "tools" / "mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()
CONFIG = {"docs_dir": str(REPO / "docs"), "repo_url": "https://github.com/o/r"}


def render(markdown: str, src_uri: str) -> str:
    page = SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))
    return hooks.on_page_markdown(markdown, page=page, config=CONFIG, files=None)


def test_the_readme_as_front_page_links_to_docs_pages_relative_to_docs() -> None:
    assert render("[guide](docs/gke-l4.md#2-storage) ![d](docs/images/dashboard-preview.png)", "index.md") == \
        "[guide](gke-l4.md#2-storage) ![d](images/dashboard-preview.png)"


def test_a_link_out_of_docs_points_at_the_file_on_github_and_an_image_is_served_from_the_site() -> None:
    text = render("[table](../bench/results/autoscaler.md) ![plot](../bench/results/autoscaler.png)", "benchmarks.md")
    assert text == ("[table](https://github.com/o/r/blob/main/bench/results/autoscaler.md) "
                    "![plot](repo/bench/results/autoscaler.png)")
    assert render("[chart](../../charts/diffusion-operator)", "reference/api.md") == \
        "[chart](https://github.com/o/r/tree/main/charts/diffusion-operator)"


def test_a_link_to_a_file_that_is_not_in_the_repository_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        render("[gone](../bench/nowhere.md)", "install.md")
    assert "docs/install.md links to ../bench/nowhere.md, which is not in the repository" in caplog.text


def test_urls_anchors_and_code_are_left_alone() -> None:
    text = "[k](https://kopf.readthedocs.io) [s](#spec) `[a-z](x)` and\n```\n[b](nowhere.md)\n```"
    assert render(text, "install.md") == text


def test_a_pipe_escaped_for_github_in_a_table_code_span_is_unescaped_for_python_markdown() -> None:
    text = "| `a\\|b` | c \\| d |\nprose `x\\|y`"
    assert render(text, "install.md") == "| `a|b` | c \\| d |\nprose `x\\|y`"
