"""The gateway as its own process (``execgate serve``), over backends reached through proxies.

Measured as it runs in production: its own interpreter and event loop, so a test's load
generator does not share its CPU time, and its RSS is its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from execgate.config import InstanceSettings
from execgate.domain.models import BackendKind
from execgate.simulate.server import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RunningGateway:
    url: str
    pid: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the ``/metrics`` samples named ``name`` that carry ``labels``."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )


def _table(instance: InstanceSettings, variable: str, extra: dict[str, object]) -> str:
    lines = [
        "[[instances]]",
        f'name = "{instance.name}"',
        f'kind = "{instance.kind.value}"',
        f'base_url = "{instance.base_url}"',
    ]
    if instance.kind is BackendKind.TEAM:
        lines += [f'team_id = "{instance.team_id}"', f'token_env = "{variable}"']
    else:
        lines.append(f'api_key_env = "{variable}"')
    lines += [f"{key} = {value!r}".replace("'", '"') for key, value in extra.items()]
    return "\n".join(lines) + "\n"


@contextmanager
def gateway_process(
    instances: Sequence[InstanceSettings],
    *,
    instance_options: dict[str, object] | None = None,
    tables: str = "",
    env: dict[str, str] | None = None,
) -> Iterator[RunningGateway]:
    """``execgate serve`` on 127.0.0.1 over ``instances`` (their settings' credentials are
    passed in environment variables), with ``instance_options`` in every instance table and
    ``tables`` (TOML) appended; ``env`` adds to its environment."""
    env = {**os.environ, **(env or {})}
    parts = []
    for number, instance in enumerate(instances):
        variable = f"EXECGATE_TEST_CREDENTIAL_{number}"
        env[variable] = instance.credential
        parts.append(_table(instance, variable, instance_options or {}))
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="execgate-gw-") as folder:
        config = Path(folder) / "gateway.toml"
        config.write_text("\n".join(parts) + "\n" + tables, encoding="utf-8")
        log = Path(folder) / "gateway.log"
        argv = [sys.executable, "-m", "execgate", "serve", "--config", str(config)]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://localhost:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway did not start:\n{log.read_text()}")
                time.sleep(0.05)
            yield RunningGateway(url, process.pid, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
