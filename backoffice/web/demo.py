"""The whole system on one machine, for ``make demo``: a private Mosquitto, the back office (web application
and ingest in one ``backoffice serve --ingest`` process) with a demo account, and a kiosk running the real
models on the shipped footage (``kiosk demo --broker``: the whole kiosk, camera to outbox, with a scripted
shopper tapping through the offers, the feedback questions and a staff call, and, with ``--chat``, asking
the FAQ assistant and a person: the hand-offs reach the operator console). It prints the URL and the login;
the pages fill while it runs. Ctrl-C (or --seconds) stops everything.

Everything runs as separate processes started here, so this module imports nothing of the kiosk (the
floors of docs/architecture.md): it only knows the commands' names.

Example::

    python -m backoffice.web.demo                 # until Ctrl-C, the kiosk's screen in a window if any
    python -m backoffice.web.demo --seconds 120 --headless --out /tmp/vitrina-system
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import click
import httpx

#: The demo's account (printed at start; a demo store only, never a real one).
DEMO_USER: Final = "demo"
DEMO_PASSWORD: Final = "vitrina-demo"  # noqa: S105 - printed to the person running the demo, by design

#: The kiosk's identity in the demo.
DEMO_STORE: Final = "demo-store"
DEMO_DEVICE: Final = "demo-kiosk"

BIN: Final = Path(sys.executable).parent


class DemoError(click.ClickException):
    """The demo cannot start: the message says what is missing."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_mosquitto() -> str:
    """The broker binary, or :class:`DemoError` with the package to install."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise DemoError(
            "the demo needs the Mosquitto broker: sudo apt-get install mosquitto "
            "(make test installs it when run as root)"
        )
    return found


def mosquitto_config(folder: Path, port: int) -> Path:
    """A private broker's configuration: one plain listener on 127.0.0.1, no persistence, a log file."""
    config = folder / "mosquitto.conf"
    config.write_text(
        "\n".join(
            [
                f"user {getpass.getuser()}",  # as root, mosquitto would otherwise switch to 'mosquitto'
                "persistence false",
                "max_queued_messages 100000",
                f"log_dest file {folder / 'mosquitto.log'}",
                "log_type error",
                "log_type warning",
                f"listener {port} 127.0.0.1",
                "allow_anonymous true",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return config


def kiosk_config(folder: Path, public_key: str) -> Path:
    """The kiosk's configuration: its identity and the back office's command key (so it obeys staff_ack)."""
    path = folder / "kiosk.toml"
    path.write_text(
        "\n".join(
            [
                "[device]",
                f'store_id = "{DEMO_STORE}"',
                f'device_id = "{DEMO_DEVICE}"',
                "",
                "[mqtt.commands]",
                f'public_keys = ["{public_key}"]',
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


@dataclass
class Processes:
    """The demo's child processes, stopped in reverse order (SIGTERM, then SIGKILL after a grace period)."""

    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        """Start ``args`` in its own process group, its output into ``log``."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
        self.running.append((name, process))

    def check(self) -> None:
        """Raise :class:`DemoError` when a child has exited."""
        for name, process in self.running:
            code = process.poll()
            if code is not None:
                raise DemoError(f"{name} exited with {code}; see its log in the demo folder")

    def stop(self) -> None:
        """Stop every child, newest first."""
        for _name, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in reversed(self.running):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def wait_listening(port: int, timeout_s: float, processes: Processes) -> None:
    """Wait until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        processes.check()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise DemoError(f"nothing listened on port {port} within {timeout_s} s")


def wait_healthy(url: str, timeout_s: float, processes: Processes) -> None:
    """Wait until the back office's /healthz answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        processes.check()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise DemoError(f"the back office did not answer at {url} within {timeout_s} s")


def run(args: list[str], env: dict[str, str] | None = None) -> str:
    """Run a command to completion; its standard output (:class:`DemoError` with its output on failure)."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise DemoError(f"{' '.join(args[:3])} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


@contextlib.contextmanager
def system(out: Path, *, port: int, headless: bool, kiosk_seconds: float | None) -> Iterator[str]:
    """Start the whole system; yields the back office's URL; stops it all on exit."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    processes = Processes()
    try:
        broker_port = free_port()
        processes.start(
            "mosquitto",
            [find_mosquitto(), "-c", str(mosquitto_config(out, broker_port))],
            out / "mosquitto.out",
        )
        wait_listening(broker_port, 10, processes)
        broker = f"mqtt://127.0.0.1:{broker_port}"
        db = f"sqlite:///{out / 'backoffice.sqlite'}"
        key = out / "backoffice-commands.pem"
        public_key = run([str(BIN / "backoffice"), "keygen", "--out", str(key)]).strip()
        env = {**os.environ, "VITRINA_DEMO_PASSWORD": DEMO_PASSWORD}
        run(
            [str(BIN / "backoffice"), "user", "add", DEMO_USER, "--role", "admin", "--db", db,
             "--password-env", "VITRINA_DEMO_PASSWORD"],
            env=env,
        )  # fmt: skip
        processes.start(
            "backoffice serve",
            [str(BIN / "backoffice"), "serve", "--db", db, "--broker", broker, "--key", str(key), "--ingest",
             "--port", str(port), "--settings", str(demo_settings(out))],
            out / "backoffice.log",
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, 60, processes)
        kiosk = [
            str(BIN / "kiosk"), "demo", "--broker", broker, "--config", str(kiosk_config(out, public_key)),
            "--out", str(out / "kiosk"), "--chat",
        ]  # fmt: skip
        if headless:
            kiosk.append("--headless")
        if kiosk_seconds is not None:
            kiosk += ["--seconds", str(kiosk_seconds)]
        processes.start("kiosk demo", kiosk, out / "kiosk.log")
        yield url
    finally:
        processes.stop()


def demo_settings(out: Path) -> Path:
    """The back office's settings for the demo: escalations after a minute, so they show."""
    path = out / "backoffice.toml"
    path.write_text("[web]\nescalate_after_s = 60\n", encoding="utf-8")
    return path


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out/system"),
    show_default=True,
    help="Folder for the store, the logs and the kiosk's output (emptied first).",
)
@click.option("--port", default=8000, show_default=True, help="The back office's port on 127.0.0.1.")
@click.option("--seconds", type=float, default=None, help="Stop after this many seconds (default: Ctrl-C).")
@click.option("--headless", is_flag=True, help="The kiosk's screen off screen even where a display exists.")
def main(out: Path, port: int, seconds: float | None, headless: bool) -> None:
    """Run the whole system: a private broker, the back office with a demo account, a kiosk on the models.

    \b
    Example:
      python -m backoffice.web.demo
      python -m backoffice.web.demo --seconds 120 --headless --out /tmp/vitrina-system
    """
    stop_at = None if seconds is None else time.monotonic() + seconds
    kiosk_seconds = seconds if seconds is not None else 24 * 3600.0
    with system(out, port=port, headless=headless, kiosk_seconds=kiosk_seconds) as url:
        click.echo(
            f"\nVitrina is running.\n  back office: {url}/\n  sign in as:  {DEMO_USER} / {DEMO_PASSWORD}\n"
            f"  the kiosk ({DEMO_STORE}/{DEMO_DEVICE}) runs the real models on the shipped footage; its "
            f"shopper taps through offers and calls staff: answer on {url}/staff\n"
            f"  every second visitor asks the FAQ assistant, then a person: answer on {url}/console\n"
            f"  logs and the store: {out}/\nCtrl-C stops everything.\n"
        )
        try:
            while stop_at is None or time.monotonic() < stop_at:
                time.sleep(0.5)
        except KeyboardInterrupt:
            click.echo("stopping ...", err=True)


if __name__ == "__main__":
    main()
