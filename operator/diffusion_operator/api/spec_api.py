"""``spec.api``: an OpenAI-compatible images API at the service's edge, with API keys and limits.

Off by default, and absent from a defaulted object while unset (no default is declared), so a
service that never mentions it stores exactly what it stored before. When enabled, the activator
(``diffusion_operator/activator/openai``) fronts the service whatever its replica bounds, serves
``POST /v1/images/generations``, ``GET /v1/models`` and, with the photoshoot pipeline,
``POST /v1/images/edits`` (``render.activator.api_serves_edits``), and asks every request for one of
the keys of ``auth.secretRef``. The caps refuse what the service cannot serve before it queues; unset, each
is the service's own bound (``render.activator.api_caps`` resolves them). The per-key limits are
enforced by each activator replica on its own (no shared state), so across the service a key may
reach the limit times the number of activator replicas.

Cross-field rules (sizes inside the engines' range, ``maxSteps`` not below ``pipeline.steps``) live
on ``DiffusionServiceSpec`` (``api/spec.py``), next to the fields they compare.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from diffusion_operator.api import cel
from diffusion_operator.api.base import DNS_SUBDOMAIN_PATTERN, ApiModel
from diffusion_operator.api.resolution import Resolution

#: Sizes a service may list: a handful of aspect ratios is what image APIs offer; bounds CEL cost.
MAX_API_SIZES = 16
#: OpenAI's images API allows up to 10 images per request; the engines batch up to 16.
MAX_IMAGES_PER_REQUEST = 16
#: The pipeline's own bound on steps (``spec.pipeline.steps``, ``engine_builder.pipeline.MAX_STEPS``).
API_MAX_STEPS = 150


class ApiKeysSecretRef(ApiModel):
    """The Secret in the service's namespace that holds the API keys (read by the activator only)."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description=(
            "Name of the Secret. Each of its keys is one API key: the key's name is what metrics and logs show, "
            "its value what clients send as 'Authorization: Bearer <value>'. Edits reach the activator without "
            "a restart (within the kubelet's Secret sync, about a minute)."
        ),
    )


class ApiAuthSpec(ApiModel):
    """Who may call the API: holders of one of the Secret's keys."""

    secret_ref: ApiKeysSecretRef = Field(description="The Secret holding the API keys, by name.")


class PerKeyLimitsSpec(ApiModel):
    """Limits applied to each API key on its own, by each activator replica."""

    requests_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description=(
            "Requests per minute per key (a token bucket holding a minute's worth, refilled continuously); "
            "beyond it: 429 with Retry-After. Unset: no rate limit."
        ),
    )
    max_concurrent: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Requests of one key in flight at once; beyond it: 429 with Retry-After. Unset: no limit.",
    )


class ApiSpec(ApiModel):
    """An OpenAI-compatible images API (/v1/images/generations and /edits, /v1/models) served by the activator."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.enabled) || !self.enabled || has(self.auth)",
                "api.auth.secretRef is required when api.enabled is true (every request needs a key)",
                field_path=".auth",
                reason="FieldValueRequired",
            ),
        )
    )

    enabled: bool = Field(
        default=False,
        description=(
            "Serve the API. The activator then fronts the service even with minReplicas above 0, and Triton's "
            "ports admit only the activator, the operator and Prometheus."
        ),
    )
    auth: ApiAuthSpec | None = Field(default=None, description="API keys; required when enabled.")
    max_images_per_request: int | None = Field(
        default=None,
        ge=1,
        le=MAX_IMAGES_PER_REQUEST,
        description=(
            "The largest n a request may ask for (each image is one request to Triton). Unset: "
            "engine.maxBatchSize, the most images the engines denoise at once."
        ),
    )
    sizes: list[Resolution] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_API_SIZES,
        description=(
            "The sizes a request may ask for. Unset: any size whose width and height lie between the smallest "
            "and largest of engine.resolutions (multiples of 8), the engines' optimisation range."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "atomic",
            **cel.validations(
                cel.rule(
                    "self.all(r, self.exists_one(o, o.width == r.width && o.height == r.height))",
                    "api.sizes must be unique",
                )
            ),
        },
    )
    max_steps: int | None = Field(
        default=None,
        ge=1,
        le=API_MAX_STEPS,
        description=(
            "The most denoising steps (num_inference_steps) a request may ask for; at least pipeline.steps. "
            "Unset: 150, the pipeline's own bound."
        ),
    )
    per_key: PerKeyLimitsSpec = Field(
        default_factory=PerKeyLimitsSpec,
        description="Rate and concurrency limits per API key.",
        json_schema_extra={"default": {}},
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> ApiSpec:
        if self.enabled and self.auth is None:
            raise ValueError("api.auth.secretRef is required when api.enabled is true (every request needs a key)")
        if self.sizes is not None and len({(s.width, s.height) for s in self.sizes}) != len(self.sizes):
            raise ValueError("api.sizes must be unique")
        return self
