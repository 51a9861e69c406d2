"""Push the built images to a registry (``make images-push REGISTRY=...``), and a registry to push to.

``make images`` leaves docker-archives, not images in a daemon (there is none here), so pushing is
copying an archive to a registry: skopeo does exactly that (``skopeo copy docker-archive:…
docker://…``), with the credentials of ``skopeo login`` (or Docker's config) for a real registry.
Each image keeps the last part of its name and its tag under ``REGISTRY``
(``ghcr.io/diffusion-operator/operator:0.1.0`` → ``REGISTRY/operator:0.1.0``), and the chart values
that name the pushed images are printed, so ``helm install -f`` of them pulls from there.

``LocalRegistry`` runs CNCF distribution (the registry behind most registries; built from its Go
module by ``make binaries``) on loopback with a throw-away store, so a test can push there and
have the real node's kubelet pull by registry name, as a cluster's nodes do.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from shutil import which
from subprocess import run

import yaml

from testbed.images import CachedImage, cached_images
from testbed.paths import binary
from testbed.processes import ManagedProcess, free_port

#: Hosts that serve plain HTTP here (a loopback registry has no certificate).
_PLAIN_HTTP_HOSTS = ("127.0.0.1", "localhost")


class PushError(RuntimeError):
    """An image could not be pushed; the message names it and carries skopeo's own words."""


def pushed_name(tag: str, registry: str) -> str:
    """Where ``tag`` goes under ``registry``: its last path part and its tag (``REGISTRY/operator:0.1.0``)."""
    return f"{registry.rstrip('/')}/{tag.rsplit('/', 1)[-1]}"


def push_images(registry: str, names: Iterable[str] = (), *, images: dict[str, CachedImage] | None = None
                ) -> dict[str, str]:
    """Copy this checkout's built archives (all, or ``names``) to ``registry``; name -> pushed reference."""
    built = cached_images() if images is None else images
    wanted = list(names) or sorted(built)
    missing = [name for name in wanted if name not in built]
    if missing:
        raise PushError(f"not built yet: {', '.join(missing)} (run `make images`; built: {sorted(built) or 'none'})")
    skopeo = which("skopeo")
    if skopeo is None:
        raise PushError("skopeo is not installed: run `make images` (tools/system-deps.sh images installs it)")
    plain_http = registry.split("/", 1)[0].split(":", 1)[0] in _PLAIN_HTTP_HOSTS
    pushed = {}
    for name in wanted:
        image = built[name]
        destination = pushed_name(image.tag, registry)
        argv = [skopeo, "copy", "--quiet", *(["--dest-tls-verify=false"] if plain_http else []),
                f"docker-archive:{image.archive}", f"docker://{destination}"]
        result = run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PushError(f"pushing {name} to {destination} failed: {result.stderr.strip()}")
        pushed[name] = destination
    return pushed


def labelled_copy(image: CachedImage, directory: Path, label: str, value: str) -> CachedImage:
    """A copy of ``image``'s docker-archive whose config carries one more label: the same layers under
    a new image ID. A node that holds ``image`` (imported) sees the copy as a different image, as a
    cluster's node sees an image it never had. Pulling the *same* image ID under a second name is
    what the test bed avoids: containerd's CRI image store keys images by config digest, and after
    such a pull the node stopped finding the imported name (containerd/containerd#13243 is that
    family of bug). Written by hand because skopeo copies configs byte for byte."""
    directory.mkdir(parents=True, exist_ok=True)
    destination = directory / f"{image.name}-{label}-{value}.tar"
    with tarfile.open(image.archive) as source:
        [entry] = json.loads(source.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(source.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
        config.setdefault("config", {}).setdefault("Labels", {})[label] = value
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
        manifest = [{**entry, "Config": config_name}]
        with tarfile.open(destination, "w") as copy:
            for member in source:
                if member.name in ("manifest.json", entry["Config"]):
                    continue
                copy.addfile(member, source.extractfile(member) if member.isfile() else None)
            for name, data in ((config_name, config_bytes), ("manifest.json", json.dumps(manifest).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                copy.addfile(info, io.BytesIO(data))
    return dataclasses.replace(image, archive=str(destination), hash=config_name.removesuffix(".json"),
                               size_bytes=destination.stat().st_size)


def chart_values(pushed: dict[str, str]) -> dict[str, object]:
    """The chart values that make the operator and its defaults use the pushed images."""
    values: dict[str, object] = {}
    if "operator" in pushed:
        repository, tag = pushed["operator"].rsplit(":", 1)
        values["image"] = {"repository": repository, "tag": tag}
    defaults = {key: pushed[name] for name, key in (("engine-builder", "builderImage"), ("triton-sdxl", "tritonImage"))
                if name in pushed}
    if defaults:
        values["defaults"] = defaults
    return values


class LocalRegistry:
    """A CNCF distribution registry on ``127.0.0.1:<free port>``, storing under ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.process = ManagedProcess(f"registry-{self.port}", state_dir)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        config = self.state_dir / f"registry-{self.port}.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump({
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.state_dir / f"registry-{self.port}-data")},
                        "delete": {"enabled": True}},
            "http": {"addr": self.address},
        }))
        self.process.start([str(binary("registry")), "serve", str(config)])
        self.process.wait_ready(lambda: urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2).status == 200,
                                timeout)

    def stop(self) -> None:
        self.process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.registry", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    push = sub.add_parser("push", help="push the built images to REGISTRY and print the chart values naming them")
    push.add_argument("registry", help="e.g. us-docker.pkg.dev/PROJECT/diffusion or 127.0.0.1:5000/diffusion")
    push.add_argument("names", nargs="*", help="images to push (default: every built one)")
    args = parser.parse_args(argv)
    try:
        pushed = push_images(args.registry, args.names)
    except PushError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, reference in pushed.items():
        print(f"pushed {name}: {reference}", file=sys.stderr)
    print("# chart values for the pushed images (helm install ... -f this-file)")
    print(yaml.safe_dump(chart_values(pushed), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
