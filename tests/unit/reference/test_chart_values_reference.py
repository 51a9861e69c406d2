"""The chart's values reference: helm-docs' `# --` comments, the schema's bounds, no undocumented value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from diffusion_operator.reference import chart_values

CHART = Path(__file__).resolve().parents[3] / "charts" / "diffusion-operator"
SCHEMA = {
    "definitions": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
    "properties": {
        "image": {"type": "object", "additionalProperties": False},
        "metrics": {"properties": {"port": {"$ref": "#/definitions/port"}}},
        "mode": {"enum": ["a|b", "c"]},
    },
}
VALUES = """\
# A plain comment is not a description.

# -- The image; the tag defaults to
# the chart's `<appVersion>`.
image:
  repository: example/op
  tag: ""

metrics:
  # -- Port for <metrics>.
  port: 8080

# -- How it runs.
mode: c
"""


def test_rows_carry_description_default_type_and_bounds() -> None:
    rows = {row.key: row for row in chart_values.documented_values(VALUES, SCHEMA)}
    assert list(rows) == ["image", "metrics.port", "mode"]
    assert rows["image"].description == "The image; the tag defaults to the chart's `<appVersion>`."
    assert rows["image"].default == {"repository": "example/op", "tag": ""}
    assert rows["metrics.port"].schema == {"type": "integer", "minimum": 1, "maximum": 65535}


def test_the_table_escapes_prose_but_not_code_and_keeps_pipes_in_their_cell() -> None:
    page = chart_values.render_markdown(VALUES, SCHEMA, header="# Values\n\n")
    assert "the chart's `<appVersion>`." in page
    assert "Port for &lt;metrics&gt;." in page
    assert '| `mode` | one of `"a\\|b"`, `"c"` | `"c"` |' in page
    assert "| `metrics.port` | integer | `8080` | ≥ 1; ≤ 65535 |" in page


def test_a_value_documented_nowhere_on_its_path_is_refused_by_name() -> None:
    undocumented = VALUES.replace("  port: 8080", "  port: 8080\n  path: /metrics")
    with pytest.raises(chart_values.UndocumentedValueError, match=r"metrics\.path has no"):
        chart_values.documented_values(undocumented, SCHEMA)


def test_the_real_chart_documents_every_value() -> None:
    values = (CHART / "values.yaml").read_text()
    rows = chart_values.documented_values(values, json.loads((CHART / "values.schema.json").read_text()))
    assert {"replicaCount", "defaults.prometheusUrl", "dashboards.enabled"} <= {row.key for row in rows}
