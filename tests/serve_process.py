"""``backoffice serve --ingest`` in a process of its own, for the browser tests.

The port comes from :func:`mosquitto_broker.free_ports`, which closes its socket before the server binds:
another process on a busy machine (a broker, another test run) can take the port in between. A server
that exits because its port was taken is started again on a new one, a few times, before the test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mosquitto_broker import MosquittoBroker, free_ports

BIN = Path(sys.executable).parent
#: What uvicorn prints when the port was taken between choosing it and binding it.
PORT_TAKEN = "address already in use"
ATTEMPTS = 5


class ServeProcess:
    """``backoffice serve --ingest`` on a free port, its output in ``serve.log``; :meth:`healthy` polls it."""

    def __init__(
        self, tmp_path: Path, db_url: str, broker: MosquittoBroker, key: Path, poll_interval_s: float
    ) -> None:
        self.log = tmp_path / "serve.log"
        self.settings = tmp_path / "backoffice.toml"
        self.settings.write_text(
            f'[web]\ndefault_language = "en"\npoll_interval_s = {poll_interval_s}\n', encoding="utf-8"
        )
        self._args = [
            str(BIN / "backoffice"), "serve", "--db", db_url, "--broker", f"mqtt://{broker.host}:{broker.port}",
            "--key", str(key), "--ingest", "--settings", str(self.settings), "--log-level", "warning",
        ]  # fmt: skip
        self._attempts = 0
        self._start()

    def _start(self) -> None:
        self._attempts += 1
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*self._args, "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def healthy(self) -> bool:
        """Up and connected to the broker; a server that lost its port to another process is restarted."""
        import httpx

        if self.process.poll() is not None:
            output = self.log.read_text(errors="replace")
            if PORT_TAKEN in output and self._attempts < ATTEMPTS:
                self._start()
                return False
            pytest.fail(f"backoffice serve exited: {output[-3000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).json().get("mqtt_connected") is True
        except httpx.HTTPError:
            time.sleep(0.05)
            return False

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after 20 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
