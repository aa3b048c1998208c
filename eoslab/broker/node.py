"""One Apache Kafka node (broker + controller, KRaft) as a background JVM process.

What it guarantees: ``start()`` returns only when a client can fetch metadata *and* run a
transaction (see :mod:`eoslab.readiness`); ``stop()`` is graceful, then SIGKILL after a bound;
``kill()`` is a hard crash that keeps the data, for failure demos. Everything lives under one state
directory: ``data/`` (the log), ``logs/`` (``server.log`` and the JVM's own output), ``broker.pid``
and the generated configuration. Every wait has a deadline.

What it does not do: replicate (one node: a crash makes the cluster unavailable until restart) or
listen anywhere but 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from .. import settings
from ..errors import EoslabError
from ..netutil import describe_listener
from ..readiness import wait_until_ready
from . import jars, java, properties

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
FORMAT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    state_dir: Path
    kafka_version: str

    def describe(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        return (f"Apache Kafka {self.kafka_version} broker: {state}\n"
                f"  bootstrap servers: {self.bootstrap}\n"
                f"  state dir:         {self.state_dir}")


class EmbeddedBroker:
    """The course's own broker. Cheap to construct: it only names paths and ports."""

    def __init__(self, state_dir: Path | str | None = None, port: int | None = None) -> None:
        self.state_dir = Path(state_dir).expanduser() if state_dir else settings.default_state_dir()
        self.ports = settings.BrokerPorts(port if port is not None else settings.default_broker_port())
        self.data_dir = self.state_dir / "data"
        self.log_dir = self.state_dir / "logs"
        self.server_log = self.log_dir / "server.log"
        self.jvm_log = self.log_dir / "jvm.out"
        self.pid_file = self.state_dir / "broker.pid"
        self.properties_file = self.state_dir / "server.properties"
        self.log4j_file = self.state_dir / "log4j2.properties"

    @property
    def bootstrap(self) -> str:
        return self.ports.bootstrap

    # ---- state -------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The JVM's pid if *this* broker runs (a recycled pid running something else is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            return pid if str(self.properties_file) in process.cmdline() else None
        except (OSError, ValueError, psutil.Error):
            return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def status(self) -> BrokerStatus:
        return BrokerStatus(self.is_running(), self.pid(), self.bootstrap, self.state_dir, jars.KAFKA_VERSION)

    def log_tail(self, lines: int = 40) -> list[str]:
        """The last lines of the broker log (or of the JVM's output if the log is empty)."""
        for path in (self.server_log, self.jvm_log):
            if path.is_file() and path.stat().st_size:
                return path.read_text(errors="replace").splitlines()[-lines:]
        return []

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self, fresh: bool = False, timeout_s: float = START_TIMEOUT_S, quiet: bool = False) -> bool:
        """Start the broker and wait until it is ready. Returns False if it was already running.

        Two starters at once (Binder's start script and a notebook's ``bootstrap()``) are
        serialised by a lock file: the second waits for the first, then finds the broker running.
        """
        with self._start_lock(timeout_s):
            if self.is_running():
                if fresh:
                    raise EoslabError(f"the broker in {self.state_dir} is running; `eoslab broker stop` before --fresh")
                if not wait_until_ready(self.bootstrap, timeout_s, still_starting=self.is_running):
                    raise EoslabError(f"the broker (pid {self.pid()}) runs but is not ready; "
                                      f"see `eoslab broker logs` or `eoslab broker restart`")
                return False
            return self._start_unlocked(fresh, timeout_s, quiet)

    @contextlib.contextmanager
    def _start_lock(self, timeout_s: float) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "start.lock", "w") as lock_file:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EoslabError(f"another `eoslab broker start` on {self.state_dir} has held its lock for "
                                          f"{timeout_s:.0f} s; wait for it, or stop it and retry") from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _start_unlocked(self, fresh: bool, timeout_s: float, quiet: bool) -> bool:
        java_bin = java.find_java()
        libs = jars.find_libs(quiet=quiet)
        self._check_ports_free()
        if fresh and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self._write_configuration()
        if not (self.data_dir / "meta.properties").is_file():
            self._format_storage(java_bin, libs)
        process = self._launch(java_bin, libs)
        started = time.monotonic()
        if not quiet:
            print(f"Starting Apache Kafka {jars.KAFKA_VERSION} on {self.bootstrap} (state in {self.state_dir})…",
                  flush=True)
        if wait_until_ready(self.bootstrap, timeout_s, still_starting=lambda: process.poll() is None):
            if not quiet:
                print(f"Broker ready on {self.bootstrap} after {time.monotonic() - started:.1f} s.", flush=True)
            return True
        exit_code = process.poll()
        if exit_code is None:
            self.stop()
            raise EoslabError(f"the broker did not become ready within {timeout_s:.0f} s ({self._last_problem()}); "
                              f"see `eoslab broker logs`, or start afresh with `eoslab broker start --fresh`")
        self.pid_file.unlink(missing_ok=True)
        raise EoslabError(f"the broker exited during start with code {exit_code}: {self._last_problem()}; "
                          f"full log: {self.server_log} (`eoslab broker logs`)")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop gracefully (SIGTERM), then SIGKILL after ``timeout_s``. False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self._signal_and_wait(pid, signal.SIGTERM, timeout_s) or self._signal_and_wait(pid, signal.SIGKILL, 10)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """Crash the broker: SIGKILL, no clean shutdown, data kept. False if it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        self._signal_and_wait(pid, signal.SIGKILL, 10)
        self.pid_file.unlink(missing_ok=True)
        return True

    def restart(self, hard: bool = False, timeout_s: float = START_TIMEOUT_S, quiet: bool = False) -> None:
        """Stop (or, with ``hard``, SIGKILL) and start again on the same data."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start(timeout_s=timeout_s, quiet=quiet)

    # ---- internals ---------------------------------------------------------------------------

    def _check_ports_free(self) -> None:
        for port in self.ports.all():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((settings.LOOPBACK, port))
                except OSError:
                    holder = describe_listener(port)
                    raise EoslabError(
                        f"port {port} on {settings.LOOPBACK} is in use{holder}, not by the course's broker; "
                        f"stop that program, or use other ports: EOSLAB_BROKER_PORT={self.ports.client + 100} "
                        f"eoslab broker start (and KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{self.ports.client + 100})"
                    ) from None

    def _write_configuration(self) -> None:
        for folder in (self.state_dir, self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        config = properties.server_properties(self.ports, self.data_dir)
        self.properties_file.write_text(properties.render_properties(config))
        self.log4j_file.write_text(properties.log4j2_properties(self.server_log))

    def _java_command(self, java_bin: Path, libs: Path, main_class: str) -> list[str]:
        return [str(java_bin), *properties.JVM_OPTIONS, f"-Dlog4j2.configurationFile={self.log4j_file}",
                f"-Dkafka.logs.dir={self.log_dir}", "-cp", f"{libs}/*", main_class]

    def _format_storage(self, java_bin: Path, libs: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        command = [*self._java_command(java_bin, libs, "kafka.tools.StorageTool"),
                   "format", "--cluster-id", cluster_id, "--config", str(self.properties_file), "--ignore-formatted"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EoslabError(f"formatting the broker storage in {self.data_dir} failed: {detail[0][:300]}; "
                              f"retry with `eoslab broker start --fresh`")

    def _launch(self, java_bin: Path, libs: Path) -> subprocess.Popen[bytes]:
        command = [*self._java_command(java_bin, libs, "kafka.Kafka"), str(self.properties_file)]
        # This launch's output only: a JVM that dies before logging is quoted, not an earlier run's line.
        with open(self.jvm_log, "wb") as jvm_output:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=jvm_output,
                                       stderr=subprocess.STDOUT, cwd=self.state_dir,
                                       start_new_session=True)  # survives the notebook kernel or CLI
        self.pid_file.write_text(f"{process.pid}\n")
        return process

    def _last_problem(self) -> str:
        # The JVM's own output first: it holds this launch only, and errors from before logging starts.
        for path in (self.jvm_log, self.server_log):
            tail = path.read_text(errors="replace").splitlines()[-200:] if path.is_file() else []
            for line in reversed(tail):
                if " ERROR " in line or "Exception" in line or line.startswith("Error"):
                    return line.strip()[:300]
        tail = self.log_tail(200)
        return tail[-1].strip()[:300] if tail else "the log is empty"

    @staticmethod
    def _signal_and_wait(pid: int, sig: signal.Signals, timeout_s: float) -> bool:
        try:
            process = psutil.Process(pid)
            process.send_signal(sig)
            process.wait(timeout_s)
            return True
        except psutil.NoSuchProcess:
            return True
        except psutil.TimeoutExpired:
            return False


def default_broker() -> EmbeddedBroker:
    return EmbeddedBroker()

