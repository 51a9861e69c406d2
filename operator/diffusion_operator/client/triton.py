"""The Triton edge: the only module that imports ``tritonclient``.

Every tritonclient failure becomes a typed ``ClientError`` here: a refused connection or an unknown
host is "unreachable" (exit 3), an answer that refuses the request is "rejected" (exit 5). Both
protocols are wrapped behind the same two calls, so the rest of the client never branches on them.

A service with ``spec.api`` asks every KServe request through its activator for an API key too
(docs/openai-api.md): ``api_key`` goes as ``Authorization: Bearer <key>`` (the gRPC metadata key
``authorization``) on every call, and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from diffusion_operator.client.errors import EndpointUnreachableError, ServerRejectedError, UsageError
from diffusion_operator.client.request import ImageRequest, PhotoshootRequest
from engine_builder.layout import PHOTOSHOOT_MODEL, TEXT2IMAGE_MODEL

T = TypeVar("T")

Protocol = Literal["http", "grpc"]
#: The BLS pipeline model the engine builder publishes (engine_builder/README.md, "The sdxl model").
MODEL = TEXT2IMAGE_MODEL
#: Long enough for a 1024² SDXL image on an L4 behind a queue; short enough to notice a hung server.
DEFAULT_TIMEOUT_S = 300.0
#: Liveness probes fail fast: an unreachable endpoint should be reported in seconds, not minutes.
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Endpoint:
    """``host:port`` of Triton's HTTP or gRPC port (no scheme: tritonclient takes bare addresses)."""

    address: str
    protocol: Protocol = "http"

    @staticmethod
    def parse(url: str, protocol: Protocol = "http") -> Endpoint:
        """Accepts ``host:port``, ``http://host:port`` or ``grpc://host:port``; a scheme wins over ``protocol``."""
        text = url.strip().rstrip("/")
        for scheme in ("http", "grpc"):
            if text.startswith(f"{scheme}://"):
                return Endpoint(text.removeprefix(f"{scheme}://"), scheme)
        if "://" in text:  # https:// included: TLS to Triton is not wired in (in-cluster traffic is plain)
            raise UsageError(f"url {url!r}: expected HOST:PORT, http://HOST:PORT or grpc://HOST:PORT")
        return Endpoint(text, protocol)


@dataclass(frozen=True)
class Generated:
    image: NDArray[np.uint8]
    seed: int
    seconds: float
    #: The overload speed tier served fewer steps than asked (``autoscaling.overload``).
    degraded: bool = False


@dataclass(frozen=True)
class Photographed:
    """What ``sdxl-photoshoot`` answers: the composed image and the product mask, both PNG bytes."""

    image_png: bytes
    mask_png: bytes
    seed: int
    seconds: float


@dataclass(frozen=True)
class ModelStatistics:
    """Cumulative counters of one model (Triton's statistics API); subtract two to get a window."""

    success_count: int
    queue_ns: int
    request_ns: int

    def minus(self, earlier: ModelStatistics) -> ModelStatistics:
        return ModelStatistics(self.success_count - earlier.success_count, self.queue_ns - earlier.queue_ns,
                               self.request_ns - earlier.request_ns)

    @property
    def queue_share(self) -> float | None:
        """Queue time / total request time: how much of the latency was waiting, not computing."""
        return self.queue_ns / self.request_ns if self.request_ns > 0 else None


def _module(protocol: Protocol) -> Any:
    if protocol == "grpc":
        import tritonclient.grpc as grpcclient  # noqa: PLC0415 - each protocol's stack loads only when used

        return grpcclient
    import tritonclient.http as httpclient  # noqa: PLC0415 - each protocol's stack loads only when used

    return httpclient


def _message(err: BaseException) -> str:
    text = err.message() if hasattr(err, "message") and callable(err.message) else str(err)
    return " ".join(str(text).split())[:300]


class TritonClient:
    """One connection to one Triton; not thread-safe (the load test makes one per worker thread)."""

    def __init__(self, endpoint: Endpoint, timeout_s: float = DEFAULT_TIMEOUT_S, api_key: str | None = None) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        name = "authorization" if endpoint.protocol == "grpc" else "Authorization"  # gRPC metadata is lowercase
        self._headers = {name: f"Bearer {api_key}"} if api_key else None
        self._lib = _module(endpoint.protocol)
        try:
            if endpoint.protocol == "grpc":
                self._client = self._lib.InferenceServerClient(endpoint.address)
            else:
                self._client = self._lib.InferenceServerClient(
                    endpoint.address, connection_timeout=PROBE_TIMEOUT_S, network_timeout=timeout_s)
        except Exception as err:  # malformed address: tritonclient raises plain exceptions here
            raise EndpointUnreachableError(f"{endpoint.address}: {_message(err)}") from err

    def check_ready(self, model: str = MODEL) -> None:
        """Raise ``EndpointUnreachableError`` unless the server is live and ``model`` is ready."""
        where = f"{self.endpoint.protocol}://{self.endpoint.address}"
        try:
            if self.endpoint.protocol == "grpc":
                ready = self._client.is_model_ready(model, headers=self._headers, client_timeout=PROBE_TIMEOUT_S)
            else:
                ready = self._client.is_model_ready(model, headers=self._headers)
        except Exception as err:
            raise EndpointUnreachableError(f"no Triton answers at {where}: {_message(err)}") from err
        if not ready:
            hint = " (is the photoshoot pipeline in spec.pipelines?)" if model == PHOTOSHOOT_MODEL else ""
            raise EndpointUnreachableError(f"Triton at {where} answers, but model {model!r} is not ready{hint}")

    def _infer(self, model: str, named: list[tuple[str, NDArray[Any]]]) -> tuple[Any, float]:
        """One inference; a refusal or pipeline failure raises ``ServerRejectedError``."""
        inputs = [self._tensor(name, value) for name, value in named]
        started = time.monotonic()
        try:
            if self.endpoint.protocol == "grpc":
                result = self._client.infer(model, inputs, headers=self._headers, client_timeout=self.timeout_s)
            else:
                result = self._client.infer(model, inputs, headers=self._headers)
        except self._lib.InferenceServerException as err:
            if _is_connection_failure(err):
                raise EndpointUnreachableError(f"lost Triton at {self.endpoint.address}: {_message(err)}") from err
            raise ServerRejectedError(f"server rejected the request: {_message(err)}") from err
        except OSError as err:
            raise EndpointUnreachableError(f"lost Triton at {self.endpoint.address}: {_message(err)}") from err
        return result, time.monotonic() - started

    def generate(self, request: ImageRequest) -> Generated:
        """Send one request; a refusal or pipeline failure raises ``ServerRejectedError``."""
        result, seconds = self._infer(MODEL, text2image_inputs(request))
        return _generated(result, seconds)

    def photoshoot(self, request: PhotoshootRequest) -> Photographed:
        """Send one product photo to ``sdxl-photoshoot``; refusals (a bad image...) raise ``ServerRejectedError``."""
        result, seconds = self._infer(PHOTOSHOOT_MODEL, _photoshoot_inputs(request))
        return _photographed(result, seconds)

    def statistics(self, model: str = MODEL) -> ModelStatistics:
        """Cumulative success/queue/request counters of ``model`` from Triton's statistics extension."""
        try:
            if self.endpoint.protocol == "grpc":
                raw = self._client.get_inference_statistics(model, headers=self._headers, as_json=True)
            else:
                raw = self._client.get_inference_statistics(model, headers=self._headers)
        except Exception as err:
            raise EndpointUnreachableError(f"statistics of {model!r}: {_message(err)}") from err
        return parse_statistics(raw)

    def close(self) -> None:
        self._client.close()

    def _tensor(self, name: str, value: NDArray[Any]) -> Any:
        return _infer_input(self._lib, name, value)


def _infer_input(lib: Any, name: str, value: NDArray[Any]) -> Any:
    datatype = {np.dtype(object): "BYTES", np.dtype(np.int32): "INT32", np.dtype(np.int64): "INT64",
                np.dtype(np.float32): "FP32"}[value.dtype]
    tensor = lib.InferInput(name, list(value.shape), datatype)
    tensor.set_data_from_numpy(value)
    return tensor


def _generated(result: Any, seconds: float) -> Generated:
    """What ``sdxl`` answered; ``degraded`` is absent from repositories built before the speed tier."""
    image = np.asarray(result.as_numpy("image"), dtype=np.uint8)
    seed = int(np.asarray(result.as_numpy("seed")).reshape(-1)[0])
    degraded = result.as_numpy("degraded")
    return Generated(image=image, seed=seed, seconds=seconds,
                     degraded=degraded is not None and bool(np.asarray(degraded).reshape(-1)[0]))


def _http_body(named: list[tuple[str, NDArray[Any]]]) -> tuple[bytes, int | None]:
    lib = _module("http")
    inputs = [_infer_input(lib, name, value) for name, value in named]
    body, json_size = lib.InferenceServerClient.generate_request_body(inputs)
    return (body.encode() if isinstance(body, str) else bytes(body)), json_size


def _photographed(result: Any, seconds: float) -> Photographed:
    image, mask = (bytes(np.asarray(result.as_numpy(name)).reshape(-1)[0]) for name in ("image", "mask"))
    seed = int(np.asarray(result.as_numpy("seed")).reshape(-1)[0])
    return Photographed(image_png=image, mask_png=mask, seed=seed, seconds=seconds)


def http_infer_body(request: ImageRequest) -> tuple[bytes, int | None]:
    """The KServe v2 HTTP body of one ``sdxl`` request, exactly as this client sends it: a JSON header
    then the binary tensors, and the header's length (``Inference-Header-Content-Length``; None when
    the body is all JSON). For callers with their own HTTP stack (the API's overhead bench)."""
    return _http_body(text2image_inputs(request))


def _read(result: Any, convert: Callable[[Any, float], T], seconds: float) -> T:
    """``convert`` Triton's answer; one without the expected outputs is ``ServerRejectedError``."""
    try:
        return convert(result, seconds)
    except Exception as err:
        raise ServerRejectedError(f"unreadable answer from Triton: {_message(err)}") from err


def _grpc_request(model: str, named: list[tuple[str, NDArray[Any]]]) -> bytes:
    """A serialised KServe v2 ``ModelInferRequest`` with the tensors as raw contents, as tritonclient's
    gRPC client sends them (BYTES length-prefixed by ``serialize_byte_tensor``). Built from the
    protobuf and tritonclient's public helpers because its request builder is private."""
    from tritonclient.grpc import service_pb2  # noqa: PLC0415 - the gRPC stack loads only when used
    from tritonclient.utils import np_to_triton_dtype, serialize_byte_tensor  # noqa: PLC0415

    message = service_pb2.ModelInferRequest(model_name=model)
    for name, value in named:
        message.inputs.add(name=name, datatype=np_to_triton_dtype(value.dtype), shape=list(value.shape))
        raw = serialize_byte_tensor(value).item() if value.dtype == np.dtype(object) else value.tobytes()
        message.raw_input_contents.append(raw)
    return bytes(message.SerializeToString())


def grpc_infer_request(request: ImageRequest) -> bytes:
    """The serialised gRPC ``ModelInfer`` request of one ``sdxl`` image, as this client sends it. The
    activator's OpenAI API sends this: a cancelled RPC is what makes Triton cancel a request (its
    HTTP frontend does not, request_cancellation.md), so an abandoned image stops mid-way."""
    return _grpc_request(MODEL, text2image_inputs(request))


def grpc_photoshoot_request(request: PhotoshootRequest) -> bytes:
    """``grpc_infer_request`` for one ``sdxl-photoshoot`` request."""
    return _grpc_request(PHOTOSHOOT_MODEL, _photoshoot_inputs(request))


def _parse_grpc(response: bytes) -> Any:
    import tritonclient.grpc as grpcclient  # noqa: PLC0415 - the gRPC stack loads only when used
    from tritonclient.grpc import service_pb2  # noqa: PLC0415

    try:
        return grpcclient.InferResult(service_pb2.ModelInferResponse.FromString(response))
    except Exception as err:  # a malformed message
        raise ServerRejectedError(f"unreadable answer from Triton: {_message(err)}") from err


def parse_grpc_generated(response: bytes, seconds: float) -> Generated:
    """An ``sdxl`` answer to ``grpc_infer_request``'s request; unreadable: ``ServerRejectedError``."""
    return _read(_parse_grpc(response), _generated, seconds)


def parse_grpc_photographed(response: bytes, seconds: float) -> Photographed:
    """An ``sdxl-photoshoot`` answer to ``grpc_photoshoot_request``'s request."""
    return _read(_parse_grpc(response), _photographed, seconds)


def text2image_inputs(request: ImageRequest) -> list[tuple[str, NDArray[Any]]]:
    """The ``sdxl`` model's inputs, each shape [1]; unset optionals stay out so server defaults apply."""
    inputs: list[tuple[str, NDArray[Any]]] = [("prompt", np.array([request.prompt.encode()], dtype=object))]
    if request.negative_prompt is not None:
        inputs.append(("negative_prompt", np.array([request.negative_prompt.encode()], dtype=object)))
    if request.scheduler is not None:
        inputs.append(("scheduler", np.array([request.scheduler.encode()], dtype=object)))
    for name, value, dtype in (("seed", request.seed, np.int64), ("steps", request.steps, np.int32),
                               ("width", request.width, np.int32), ("height", request.height, np.int32),
                               ("guidance_scale", request.guidance_scale, np.float32),
                               ("upscale_factor", request.upscale_factor, np.int32)):
        if value is not None:
            inputs.append((name, np.array([value], dtype=dtype)))
    return inputs


def _photoshoot_inputs(request: PhotoshootRequest) -> list[tuple[str, NDArray[Any]]]:
    """The ``sdxl-photoshoot`` model's inputs, each shape [1]; the photo travels as BYTES."""
    inputs: list[tuple[str, NDArray[Any]]] = [("image", np.array([request.image], dtype=object))]
    inputs += text2image_inputs(ImageRequest(prompt=request.prompt, negative_prompt=request.negative_prompt,
                                         seed=request.seed, steps=request.steps, width=request.width,
                                         height=request.height, guidance_scale=request.guidance_scale))
    if request.placement is not None:
        inputs.append(("placement", np.array([request.placement.encode()], dtype=object)))
    for name, value, dtype in (("upscale_factor", request.upscale_factor, np.int32),
                               ("product_scale", request.product_scale, np.float32)):
        if value is not None:
            inputs.append((name, np.array([value], dtype=dtype)))
    return inputs


def _is_connection_failure(err: Any) -> bool:
    status = str(err.status() if callable(getattr(err, "status", None)) else "")
    return "UNAVAILABLE" in status or "DEADLINE_EXCEEDED" in status


def parse_statistics(raw: dict[str, Any]) -> ModelStatistics:
    """Sum the versions of the model in a statistics answer (HTTP JSON or gRPC-as-JSON)."""
    success = queue = request = 0
    for model in raw.get("model_stats", []):
        stats = model.get("inference_stats", {})
        success += int(stats.get("success", {}).get("count", 0))
        request += int(stats.get("success", {}).get("ns", 0))
        queue += int(stats.get("queue", {}).get("ns", 0))
    return ModelStatistics(success_count=success, queue_ns=queue, request_ns=request)
