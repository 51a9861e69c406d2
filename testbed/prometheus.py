"""A real Prometheus server (Debian's package) with a config the caller writes.

Debian's packaged service does not start in this sandbox, so the binary runs with its own config,
a throw-away TSDB and a loopback port. A 1 s scrape interval keeps tests fast; ``reload()`` sends
SIGHUP so a test can add a scrape target without a restart.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from testbed.processes import ManagedProcess, free_port


class PrometheusMissingError(RuntimeError):
    pass


def prometheus_binary() -> Path:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if not found:
        raise PrometheusMissingError(
            "prometheus is not installed: run `make system-deps` (apt-get install prometheus)"
        )
    return Path(found)


def file_scrape(job: str, directory: Path, interval: str = "1s") -> dict[str, Any]:
    """A scrape job whose targets are JSON files in ``directory`` (Prometheus re-reads them live).

    The test bed's own Prometheus uses this so the demo and tests can add a Triton process as "a
    service's pod" by writing one file, with the labels a ServiceMonitor would give it.
    """
    return {
        "job_name": job,
        "scrape_interval": interval,
        "file_sd_configs": [{"files": [str(directory / "*.json")], "refresh_interval": "1s"}],
    }


def write_targets(directory: Path, name: str, targets: list[str], labels: dict[str, str]) -> Path:
    """Publish scrape targets for a :func:`file_scrape` job (atomically: Prometheus may read any time)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"targets": targets, "labels": labels}]))
    os.replace(tmp, path)
    return path


def write_target_groups(path: Path, groups: list[dict[str, Any]]) -> Path:
    """Write a whole file_sd file (``[{"targets": [...], "labels": {...}}, ...]``) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(groups, sort_keys=True))
    os.replace(tmp, path)
    return path


@functools.cache
def supports_kubernetes_sd() -> bool:
    """Whether this Prometheus has the Kubernetes discovery plugin (Debian's package is built without
    it): ``promtool check config`` on a one-job config that uses it."""
    promtool = prometheus_binary().with_name("promtool")
    if not promtool.exists():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "prometheus.yml"
        config.write_text(yaml.safe_dump({"scrape_configs": [
            {"job_name": "probe", "kubernetes_sd_configs": [{"role": "endpointslice"}]}]}))
        done = subprocess.run([str(promtool), "check", "config", "--syntax-only", str(config)],
                              capture_output=True, text=True, timeout=30, check=False)
    return done.returncode == 0


def static_scrape(job: str, targets: list[str], labels: dict[str, str] | None = None,
                  interval: str = "1s") -> dict[str, Any]:
    """One scrape job; ``labels`` become target labels (e.g. namespace/pod, as Kubernetes SD would)."""
    return {
        "job_name": job,
        "scrape_interval": interval,
        "static_configs": [{"targets": targets, "labels": labels or {}}],
    }


class Prometheus:
    """``host`` is the listen address: loopback by default; the real node's bridge gateway
    (testbed.realnode.network.GATEWAY) when pods must reach it too (the demo's operator pod)."""

    def __init__(self, state_dir: Path, name: str = "prometheus", port: int | None = None,
                 host: str = "127.0.0.1") -> None:
        self.dir = state_dir / name
        self.process = ManagedProcess(name, state_dir)
        self.port = port or free_port()
        self.host = host
        self.config_path = self.dir / "prometheus.yml"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_config(self, scrape_configs: list[dict[str, Any]], rule_files: list[Path] | None = None,
                     evaluation_interval: str = "1s") -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": evaluation_interval},
            "scrape_configs": scrape_configs,
            "rule_files": [str(p) for p in rule_files or []],
        }
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        os.replace(tmp, self.config_path)

    def start(self, scrape_configs: list[dict[str, Any]], rule_files: list[Path] | None = None) -> str:
        self.write_config(scrape_configs, rule_files)
        data = self.dir / "data"
        shutil.rmtree(data, ignore_errors=True)
        self.process.start(
            [
                str(prometheus_binary()),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address={self.host}:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ]
        )
        self.process.wait_ready(lambda: _get(f"{self.url}/-/ready") is not None, timeout=30)
        return self.url

    def reload(self, scrape_configs: list[dict[str, Any]], rule_files: list[Path] | None = None) -> None:
        self.write_config(scrape_configs, rule_files)
        pid = self.process.pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query (now, or at ``at``); returns the result vector (raises on an API error)."""
        params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
        body = _get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode(params))
        if body is None:
            raise RuntimeError("prometheus did not answer")
        payload = json.loads(body)
        if payload.get("status") != "success":
            raise RuntimeError(f"query failed: {payload}")
        return list(payload["data"]["result"])

    def targets_up(self) -> dict[str, str]:
        body = _get(f"{self.url}/api/v1/targets")
        active = json.loads(body or "{}").get("data", {}).get("activeTargets", [])
        return {t["scrapeUrl"]: t["health"] for t in active}

    def stop(self) -> None:
        self.process.stop()


def _get(url: str) -> bytes | None:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return bytes(resp.read()) if resp.status == 200 else None
