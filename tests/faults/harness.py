"""The real parts a row puts together: a private Mosquitto, ``backoffice ingest`` processes, producer
processes, and the counts read back from their files (the producer's log, its outbox, the store)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.mosquitto_broker import MosquittoBroker

BIN = Path(sys.executable).parent
PRODUCER = Path(__file__).with_name("producer.py")
REPO = Path(__file__).resolve().parents[2]


class FaultError(AssertionError):
    """A row could not carry out its fault or its check; the message says what and where."""


def wait_until(condition: Callable[[], bool], limit_s: float, what: str) -> float:
    """Poll ``condition``; return the seconds it took, or raise :class:`FaultError` naming ``what``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit_s:
            raise FaultError(f"gave up after {limit_s:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


@contextlib.contextmanager
def broker(folder: Path, *, persistence: bool = True) -> Iterator[MosquittoBroker]:
    """A private broker (the real binary) for one row, stopped at the end whatever happens."""
    folder.mkdir(parents=True, exist_ok=True)
    running = MosquittoBroker(folder, persistence=persistence)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _subacks(log_file: Path, client_id: str) -> int:
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    return text.count(f"Sending SUBACK to {client_id}")


class IngestProcess:
    """``backoffice ingest`` as its own process, with a stable ``--client-id`` (helper B's option)."""

    def __init__(
        self, mqtt: MosquittoBroker, db: Path, client_id: str, folder: Path, group: str | None = None
    ) -> None:
        self.mqtt, self.db, self.client_id, self.folder, self.group = mqtt, db, client_id, folder, group
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, wait_subscribed: bool = True) -> IngestProcess:
        """Start it; the first time, wait until the broker has answered its SUBSCRIBE."""
        args = [
            str(BIN / "backoffice"),
            "ingest",
            "--broker",
            f"mqtt://{self.mqtt.host}:{self.mqtt.port}",
            "--db",
            f"sqlite:///{self.db}",
            "--client-id",
            self.client_id,
        ]
        if self.group is not None:
            args += ["--group", self.group]
        before = _subacks(self.mqtt.log_file, self.client_id)
        self.starts += 1
        log = (self.folder / f"ingest-{self.client_id}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        if wait_subscribed:

            def subscribed() -> bool:
                if self.process is not None and self.process.poll() is not None:
                    raise FaultError(f"backoffice ingest exited {self.process.returncode}: {self.output()}")
                return _subacks(self.mqtt.log_file, self.client_id) > before

            wait_until(subscribed, 30, f"ingest {self.client_id} to subscribe")
            time.sleep(0.3)  # every SUBACK of its filters
        return self

    def output(self) -> str:
        """The tail of this process's output (for a red row's note)."""
        path = self.folder / f"ingest-{self.client_id}-{self.starts}.log"
        return path.read_text(errors="replace")[-600:].strip() if path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL: a crash; SIGTERM: a clean stop) and wait for the exit."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        self.process.wait(20)


class Producer:
    """A device process (producer.py): commits events to its outbox and publishes them."""

    def __init__(self, mqtt: MosquittoBroker, folder: Path, rate: float = 300.0) -> None:
        self.mqtt, self.folder, self.rate = mqtt, folder, rate
        self.outbox = folder / "outbox.sqlite"
        self.log = folder / "produced.log"
        self.stop_file = folder / "stop-producing"
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> Producer:
        """Start a producer process and wait for its ``ready``."""
        self.runs += 1
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(PRODUCER),
                self.mqtt.host,
                str(self.mqtt.port),
                str(self.outbox),
                str(self.log),
                str(self.runs),
                str(self.stop_file),
                str(self.rate),
            ],
            stdout=subprocess.PIPE,
            stderr=(self.folder / f"producer-{self.runs}.err").open("wb"),
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != b"ready":
            raise FaultError(f"the producer did not start: {self._err()}")
        return self

    def _err(self) -> str:
        path = self.folder / f"producer-{self.runs}.err"
        return path.read_text(errors="replace")[-600:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL it: the kiosk crashing at a random point."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(20)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def finish(self, limit_s: float = 150.0) -> None:
        """Stop producing, wait until its outbox drained and it exited 0."""
        self.stop_file.touch()
        assert self.process is not None
        try:
            code = self.process.wait(limit_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise FaultError(f"the producer did not drain its outbox within {limit_s:.0f} s") from None
        if self.process.stdout is not None:
            self.process.stdout.close()
        if code != 0:
            raise FaultError(f"the producer exited {code} (outbox not drained): {self._err()}")

    def committed(self) -> set[str]:
        """Events the producer surely committed (their ``C`` line is in the log)."""
        return self._lines("C ")

    def intended(self) -> set[str]:
        """Events the producer may have committed (an ``I`` line)."""
        return self._lines("I ")

    def _lines(self, mark: str) -> set[str]:
        if not self.log.exists():
            return set()
        return {
            line[2:] for line in self.log.read_text(encoding="utf-8").splitlines() if line.startswith(mark)
        }


def stored_ids(db: Path) -> list[str]:
    """Every event_id row in the back-office store (duplicates kept: that is what is counted)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return [str(r[0]) for r in conn.execute("SELECT event_id FROM events")]
    except sqlite3.OperationalError:  # the ingest has not made its tables yet
        return []
    finally:
        conn.close()


def outbox_ids(path: Path) -> set[str]:
    """Events still waiting in a device's outbox file."""
    if not path.exists():
        return set()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return {str(r[0]) for r in conn.execute("SELECT event_id FROM outbox")}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


@dataclass(frozen=True)
class Counts:
    """The event columns of a row."""

    committed: int
    delivered: int
    stored: int
    lost: int
    duplicated: int
    phantom: int


def count(committed: set[str], intended: set[str], store_db: Path, outbox: set[str]) -> Counts:
    """Compare what the device committed with what the store holds, by event_id.

    ``phantom``: stored events the device never even meant to commit (neither C nor I in its log).
    """
    rows = stored_ids(store_db)
    distinct = set(rows)
    return Counts(
        committed=len(committed),
        delivered=len(committed - outbox),
        stored=len(committed & distinct),
        lost=len(committed - distinct),
        duplicated=len(rows) - len(distinct),
        phantom=len(distinct - intended - committed),
    )
