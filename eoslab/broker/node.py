"""One Apache Kafka node (broker + controller, KRaft) as a background JVM process.

What it guarantees: ``start()`` returns only when a client can fetch metadata *and* run a
transaction (see :mod:`eoslab.broker.readiness`); ``stop()`` is graceful, then SIGKILL after a bound;
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

from ..errors import EoslabError
from . import appcds, jars, java, properties, settings
from .netutil import describe_listener, listener_pid
from .readiness import wait_until_ready

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

    kind = "broker"            # in messages: "the course's broker"
    command = "broker"         # `eoslab broker …`
    jvm_options = properties.JVM_OPTIONS

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
        self.appcds_note = self.state_dir / "appcds.pending"  # an archive this JVM writes at exit

    @property
    def bootstrap(self) -> str:
        return self.ports.bootstrap

    # ---- state -------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The JVM's pid if *this* broker runs (a recycled pid running something else is ignored).

        A JVM of this broker that lost its pid file (a process killed between launching it and
        recording it, a kill racing a start) still holds its port: it is adopted, not reported stopped."""
        try:
            recorded: int | None = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            recorded = None
        if recorded is not None and self._runs_this_broker(recorded):
            return recorded
        holder = listener_pid(self.ports.client)
        if holder is not None and self._runs_this_broker(holder):
            with contextlib.suppress(OSError):
                self.pid_file.write_text(f"{holder}\n")
            return holder
        return None

    def _runs_this_broker(self, pid: int) -> bool:
        try:
            process = psutil.Process(pid)
            return process.status() != psutil.STATUS_ZOMBIE and str(self.properties_file) in process.cmdline()
        except psutil.Error:
            return False

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

    def _start_lock(self, timeout_s: float) -> contextlib.AbstractContextManager[None]:
        return state_lock(self.state_dir, timeout_s, "broker")

    def _start_unlocked(self, fresh: bool, timeout_s: float, quiet: bool) -> bool:
        java_bin = java.find_java()
        libs = jars.find_libs(quiet=quiet)
        format_command = self.prepare(java_bin, libs, fresh)
        if format_command:
            self.format_storage(format_command)
        process = self.launch(java_bin, libs)
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
            raise EoslabError(f"the broker did not become ready within {timeout_s:.0f} s ({self.last_problem()}); "
                              f"see `eoslab broker logs`, or start afresh with `eoslab broker start --fresh`")
        self.pid_file.unlink(missing_ok=True)
        raise EoslabError(f"the broker exited during start with code {exit_code}: {self.last_problem()}; "
                          f"full log: {self.server_log} (`eoslab broker logs`)")

    def prepare(self, java_bin: Path, libs: Path, fresh: bool = False, cluster_id: str | None = None) -> list[str] | None:
        """Check the ports, wipe the data if ``fresh``, write the configuration. Returns the command
        that formats the storage if it is not formatted yet (run it with :meth:`format_storage`)."""
        self._check_ports_free()
        if fresh and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self._write_configuration()
        if (self.data_dir / "meta.properties").is_file():
            return None
        return [*self._java_command(java_bin, libs, "kafka.tools.StorageTool"),
                "format", "--cluster-id", cluster_id or _new_cluster_id(), "--config", str(self.properties_file),
                "--ignore-formatted"]

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop gracefully (SIGTERM), then SIGKILL after ``timeout_s``. False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        clean = self._signal_and_wait(pid, signal.SIGTERM, timeout_s)
        if not clean:
            self._signal_and_wait(pid, signal.SIGKILL, 10)
        self.pid_file.unlink(missing_ok=True)
        if self.appcds_note.is_file():
            appcds.promote(self.appcds_note)  # a SIGKILLed JVM wrote nothing usable: promote checks
        return True

    def kill(self) -> bool:
        """Crash the broker: SIGKILL, no clean shutdown, data kept. False if it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        self._signal_and_wait(pid, signal.SIGKILL, 10)
        self.pid_file.unlink(missing_ok=True)
        self.appcds_note.unlink(missing_ok=True)  # a killed JVM writes no archive
        return True

    def restart(self, hard: bool = False, timeout_s: float = START_TIMEOUT_S, quiet: bool = False) -> None:
        """Stop (or, with ``hard``, SIGKILL) and start again on the same data."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start(timeout_s=timeout_s, quiet=quiet)

    # ---- internals ---------------------------------------------------------------------------

    def bound_ports(self) -> tuple[int, ...]:
        """The ports this node's JVM binds."""
        return self.ports.all()

    def port_advice(self) -> str:
        """What to do when one of :meth:`bound_ports` is taken."""
        return (f"use other ports: EOSLAB_BROKER_PORT={self.ports.client + 100} eoslab broker start "
                f"(and KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{self.ports.client + 100})")

    def _check_ports_free(self) -> None:
        for port in self.bound_ports():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((settings.LOOPBACK, port))
                except OSError:
                    holder = describe_listener(port)
                    raise EoslabError(
                        f"port {port} on {settings.LOOPBACK} is in use{holder}, not by the course's {self.kind}; "
                        f"stop that program, or {self.port_advice()}") from None

    def server_properties(self) -> dict[str, str]:
        return properties.server_properties(self.ports, self.data_dir)

    def _write_configuration(self) -> None:
        for folder in (self.state_dir, self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        config = self.server_properties()
        self.properties_file.write_text(properties.render_properties(config))
        self.log4j_file.write_text(properties.log4j2_properties(self.server_log))

    def _java_command(self, java_bin: Path, libs: Path, main_class: str, dump_archive: bool = False) -> list[str]:
        dump_to = appcds.pending_path(java_bin, self.state_dir) if dump_archive and appcds.enabled() else None
        cds = appcds.jvm_flags(java_bin, libs, list(self.jvm_options), dump_to)
        if dump_to is not None and any(flag.startswith("-XX:ArchiveClassesAtExit") for flag in cds):
            # stop() moves the archive this JVM writes at a clean exit into place (appcds.promote).
            self.appcds_note.write_text(f"{dump_to}\n{appcds.archive_path(java_bin)}\n")
        return [str(java_bin), *self.jvm_options, *cds, f"-Dlog4j2.configurationFile={self.log4j_file}",
                f"-Dkafka.logs.dir={self.log_dir}", "-cp", f"{libs}/*", main_class]

    def format_storage(self, command: list[str]) -> None:
        result = subprocess.run(command, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S)
        if result.returncode != 0:
            raise EoslabError(self.format_failure(result.stderr or result.stdout))

    def format_failure(self, output: str) -> str:
        detail = output.strip().splitlines()[-1:] or ["no output"]
        return (f"formatting the {self.kind} storage in {self.data_dir} failed: {detail[0][:300]}; "
                f"retry with `eoslab {self.command} start --fresh`")

    def launch(self, java_bin: Path, libs: Path) -> subprocess.Popen[bytes]:
        self.appcds_note.unlink(missing_ok=True)
        command = [*self._java_command(java_bin, libs, "kafka.Kafka", dump_archive=True), str(self.properties_file)]
        # This launch's output only: a JVM that dies before logging is quoted, not an earlier run's line.
        with open(self.jvm_log, "wb") as jvm_output:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=jvm_output,
                                       stderr=subprocess.STDOUT, cwd=self.state_dir,
                                       start_new_session=True)  # survives the notebook kernel or CLI
        self.pid_file.write_text(f"{process.pid}\n")
        return process

    def last_problem(self) -> str:
        """The most telling line of the last launch's output (an error if there is one)."""
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


@contextlib.contextmanager
def state_lock(state_dir: Path, timeout_s: float, what: str = "broker", *, name: str = "start.lock",
               busy: str | None = None, poll_s: float = 0.2) -> Iterator[None]:
    """Hold ``state_dir/<name>`` (an exclusive flock): two holders at once wait for each other instead
    of racing. ``busy`` is the error when it is still held after ``timeout_s``."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        lock = open(state_dir / name, "w")
    except OSError as error:
        variable = "EOSLAB_CLUSTER_STATE_DIR" if what == "cluster" else "EOSLAB_STATE_DIR"
        raise EoslabError(f"cannot write the {what}'s state dir {state_dir} ({error.strerror}); set "
                          f"{variable} (or --state-dir) to a folder you can write, e.g. "
                          f"~/.local/state/eoslab/{what}") from None
    with lock as lock_file:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EoslabError(busy or f"another `eoslab {what} start` on {state_dir} has held its lock "
                                      f"for {timeout_s:.0f} s; wait for it, or stop it and retry") from None
                time.sleep(poll_s)  # polling interval; the holder ends within its own deadlines
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def default_broker() -> EmbeddedBroker:
    return EmbeddedBroker()


def _new_cluster_id() -> str:
    """A random cluster id as Kafka writes one (url-safe base64 of 16 bytes), never starting with "-".

    kafka-storage would read an id such as ``-x3…`` as an option and refuse to format; Kafka's own
    ``Uuid.randomUuid`` draws again in that case, and so does this.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
