"""The four services as real subprocesses, started from their console scripts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
SERVICES = ("gateway", "request-processor", "notifier", "token-delivery")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    database_url: str
    amqp_url: str
    namespace: str
    log_dir: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Where ciba-admin reaches Postgres, when not where the services do (the chaos tests put
    # the services behind a fault proxy; operator commands go straight to the database).
    admin_database_url: str | None = None
    # Each process's management listener (/health, /metrics), on a port of its own, kept
    # across restarts of the same name.
    management_ports: dict[str, int] = field(default_factory=dict)
    _log_starts: dict[str, int] = field(default_factory=dict)

    def management_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.management_ports[name]}"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CIBA_ENV": "development",
            "CIBA_DATABASE_URL": self.database_url,
            "CIBA_AMQP_URL": self.amqp_url,
            "CIBA_BUS_NAMESPACE": self.namespace,
            "CIBA_ISSUER": self.issuer,
            "CIBA_HTTP_PORT": str(self.port),
            "CIBA_LOG_FORMAT": "json",
            "CIBA_LOG_LEVEL": "info",
            "CIBA_SHUTDOWN_GRACE_SEC": "10",
            **self.extra_env,
        }

    def log_path(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def start(self, service: str, *, wait: bool = True, name: str | None = None) -> None:
        """Start ``service``; ``name`` tells replicas apart (own log file and handle)."""
        name = name or service
        # The log file is appended to across restarts: readiness is read after this point only.
        self._log_starts[name] = len(self.log_lines(name))
        log = open(self.log_path(name), "ab")  # noqa: SIM115 - owned by the process
        port = self.management_ports.setdefault(name, free_port())
        self.processes[name] = subprocess.Popen(
            [str(BIN / f"ciba-{service}")], env={"CIBA_MANAGEMENT_PORT": str(port), **self.env},
            stdout=log, stderr=subprocess.STDOUT
        )
        if wait:
            self.wait_ready(name)

    def start_all(self) -> None:
        for service in SERVICES:
            self.start(service, wait=False)
        for service in SERVICES:
            self.wait_ready(service)

    def wait_ready(self, service: str, timeout: float = 30.0) -> None:
        """Until the process logged service_ready since it started."""
        deadline = time.monotonic() + timeout
        process = self.processes[service]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {process.returncode}:\n{self.logs(service)[-3000:]}")
            since_start = self.log_lines(service)[self._log_starts.get(service, 0):]
            if any(line.get("event") == "service_ready" for line in since_start):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{service} did not become ready:\n{self.logs(service)[-3000:]}")

    def stop(self, service: str, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        process = self.processes.pop(service)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    def kill(self, service: str) -> None:
        process = self.processes.pop(service)
        process.kill()
        process.wait()

    def stop_all(self) -> dict[str, int]:
        return {service: self.stop(service) for service in list(self.processes)}

    def logs(self, service: str) -> str:
        path = self.log_path(service)
        return path.read_text(errors="replace") if path.exists() else ""

    def log_lines(self, service: str) -> list[dict[str, Any]]:
        lines = []
        for raw in self.logs(service).splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return lines

    def admin(self, *args: str, check: bool = True, input: str | None = None) -> Any:
        env = {**self.env, "CIBA_DATABASE_URL": self.admin_database_url or self.database_url}
        result = subprocess.run([str(BIN / "ciba-admin"), *args], env=env,
                                capture_output=True, text=True, timeout=60, input=input)
        if check and result.returncode != 0:
            raise RuntimeError(f"ciba-admin {' '.join(args)} failed: {result.stderr}")
        return json.loads(result.stdout) if result.returncode == 0 else result

    async def admin_async(self, *args: str, check: bool = True) -> Any:
        """`admin` in a thread: for tests that poll while their event loop serves callbacks."""
        return await asyncio.to_thread(self.admin, *args, check=check)
