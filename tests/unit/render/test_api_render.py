"""With spec.api on, the activator fronts the service whatever its replica bounds, mounts the keys
read-only, gets the caps resolved to the service's bounds, and Triton admits only the activator, the
operator (the speed tier) and Prometheus."""

from __future__ import annotations

from typing import Any

from diffusion_operator import cli
from diffusion_operator.activator import server
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.api.status import DiffusionServiceStatus
from diffusion_operator.engines.plan import plan_for
from diffusion_operator.reconcile.children import DesiredChildren, desired_children
from diffusion_operator.reconcile.decide import Decision
from diffusion_operator.reconcile.observation import DeploymentState, JobState, Observation
from diffusion_operator.render.activator import (
    API_KEYS_DIR,
    build_activator_deployment,
    build_activator_role,
    fronted_by_activator,
)
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.names import activator_selector_labels
from diffusion_operator.render.replicas import replica_ownership
from typer.testing import CliRunner

from tests.unit.reconcile.builds import build_for

KEY = "sdxl-key"
API = {"enabled": True, "auth": {"secretRef": {"name": "sdxl-keys"}}}
AUTOSCALED = {"enabled": True, "minReplicas": 2, "maxReplicas": 4, "queueLatencyTarget": "1s"}
SETTINGS = RenderSettings(operator_namespace="diffusion-system", metrics_scraper_namespace="monitoring")


def spec(**fields: Any) -> DiffusionServiceSpec:
    return DiffusionServiceSpec.model_validate({"model": {"source": "builtin://tiny-sdxl"}, **fields})


def service(**fields: Any) -> DiffusionService:
    return DiffusionService.model_validate({"metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 1},
                                            "spec": spec(**fields).model_dump(by_alias=True, exclude_none=True)})


def children(svc: DiffusionService) -> DesiredChildren:
    dec = Decision(cache_key=KEY, build_engine=False, adopt_build=False, serving_key=KEY,
                   replica_ownership=replica_ownership(svc.spec), status=DiffusionServiceStatus(desired_replicas=2),
                   build=build_for(svc.spec))
    obs = Observation(desired_job=JobState(f"engine-{KEY}", "Succeeded"), serving_job=None,
                      deployment=DeploymentState(name="s", exists=True, serving_key=KEY, replicas=2),
                      service_monitor_supported=True, activator_exists=True)
    return desired_children(svc, obs, dec, plan_for(svc.spec, "10.13.3", "onnxruntime"), SETTINGS, force=True)


def applied(desired: DesiredChildren, kind: str, name: str) -> dict[str, Any]:
    assert desired.serving is not None
    return next(c for c in desired.serving.apply if c["kind"] == kind and c["metadata"]["name"] == name)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_the_api_puts_the_activator_in_front_even_with_replicas_above_zero():
    assert fronted_by_activator(spec(api=API))
    assert fronted_by_activator(spec(api=API, autoscaling=AUTOSCALED))
    assert not fronted_by_activator(spec(api={"enabled": False}))
    assert not fronted_by_activator(spec(autoscaling=AUTOSCALED))
    desired = children(service(api=API, autoscaling=AUTOSCALED))
    client = applied(desired, "Service", "s")
    assert client["spec"]["selector"]["app.kubernetes.io/name"] == "activator"
    assert applied(desired, "Deployment", "s-activator")
    assert desired.serving is not None
    deleted = {(ref.kind, ref.name) for ref in desired.serving.delete}
    assert not deleted & {("Deployment", "s-activator"), ("Service", "s-backend"), ("Role", "s-activator")}


def test_the_keys_are_mounted_read_only_for_the_activators_user_alone():
    deployment = build_activator_deployment("s", "n", spec(api=API), RenderSettings())
    pod = deployment["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"] == {"secretName": "sdxl-keys", "defaultMode": 0o440, "optional": False}
    [mount] = [m for m in container(deployment)["volumeMounts"] if m["name"] == volume["name"]]
    assert mount == {"name": volume["name"], "mountPath": API_KEYS_DIR, "readOnly": True}
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    rules = build_activator_role("s", "n")["rules"]
    assert not any("secrets" in rule["resources"] for rule in rules), "keys come from the volume, never the API"


def test_without_the_api_no_secret_and_no_api_flags():
    deployment = build_activator_deployment("s", "n", spec(autoscaling={**AUTOSCALED, "minReplicas": 0}),
                                            RenderSettings())
    assert not any("secret" in v for v in deployment["spec"]["template"]["spec"]["volumes"])
    assert not any(arg.startswith("--api-") for arg in container(deployment)["args"])


def test_unset_caps_become_the_services_own_bounds():
    args = container(build_activator_deployment("s", "n", spec(
        api=API, engine={"maxBatchSize": 3, "resolutions": [{"width": 512, "height": 512},
                                                            {"width": 768, "height": 1344}]}),
        RenderSettings()))["args"]
    api_args = [arg for arg in args if arg.startswith("--api-")]
    assert api_args == [f"--api-keys-dir={API_KEYS_DIR}", "--api-max-images=3", "--api-default-size=768x1344",
                        "--api-max-steps=150", "--api-size-range=512x512-768x1344"]


def test_set_caps_and_limits_reach_the_activator():
    args = container(build_activator_deployment("s", "n", spec(
        api={**API, "maxImagesPerRequest": 2, "maxSteps": 40, "sizes": [{"width": 1024, "height": 1024}],
             "perKey": {"requestsPerMinute": 30, "maxConcurrent": 2}}), RenderSettings()))["args"]
    for flag in ("--api-max-images=2", "--api-max-steps=40", "--api-sizes=1024x1024",
                 "--api-requests-per-minute=30", "--api-max-concurrent=2"):
        assert flag in args


def test_with_the_api_triton_admits_only_the_activator_the_operator_and_prometheus():
    desired = children(service(api=API, autoscaling={**AUTOSCALED, "overload": {"enabled": True}}))
    policy = applied(desired, "NetworkPolicy", "s")
    ingress = [([p["port"] for p in rule["ports"]], rule["from"]) for rule in policy["spec"]["ingress"]]
    assert ingress == [
        ([8000, 8001], [{"podSelector": {"matchLabels": activator_selector_labels("s")}}]),
        ([8002], [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]),
        ([8000], [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "diffusion-system"}}}]),
    ]
    assert desired.serving is not None
    assert not any(c["kind"] == "NetworkPolicy" and c["metadata"]["name"] == "s-activator"
                   for c in desired.serving.apply), "who reaches the activator stays networkPolicy's choice"


def test_without_the_speed_tier_the_operator_is_not_admitted():
    policy = applied(children(service(api=API)), "NetworkPolicy", "s")
    assert all(rule["ports"] != [{"protocol": "TCP", "port": 8000}] for rule in policy["spec"]["ingress"])


def test_the_rendered_flags_are_the_ones_the_activator_parses(monkeypatch):
    captured = []
    monkeypatch.setattr(server, "serve", captured.append)
    args = container(build_activator_deployment("s", "n", spec(
        api={**API, "perKey": {"requestsPerMinute": 30, "maxConcurrent": 2}},
        engine={"resolutions": [{"width": 512, "height": 512}, {"width": 1024, "height": 768}]}),
        RenderSettings()))["args"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    [settings] = captured
    api = settings.api
    assert (api.model_id, api.max_images, api.max_steps, api.requests_per_minute, api.max_concurrent) == (
        "s", 4, 150, 30, 2)
    assert str(api.keys_dir) == API_KEYS_DIR
    assert api.sizes.admits((1024, 512)) and not api.sizes.admits((1032, 512))
    assert api.sizes.default == (1024, 768)
    assert not api.edits, "no photoshoot pipeline: edits answer 404"


def test_edits_are_served_exactly_when_the_photoshoot_pipeline_is(monkeypatch):
    captured = []
    monkeypatch.setattr(server, "serve", captured.append)
    photoshoot = spec(api=API, pipelines=["text2image", "photoshoot"],
                      model={"source": "builtin://tiny-sdxl", "segmentationSource": "builtin://tiny-segmenter-white"})
    args = container(build_activator_deployment("s", "n", photoshoot, RenderSettings()))["args"]
    assert "--api-edits" in args
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert captured[0].api.edits
