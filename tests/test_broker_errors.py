"""Every way the broker can fail to start ends in one line that says what to do.

Specification: each failure of ``EmbeddedBroker.start()`` raises :class:`EoslabError` with a
single-line message naming the cause and the way out; the CLI prints the same as
``eoslab: error: …`` on stderr with exit code 1 and no traceback. The failures are declared as data
(``START_FAILURES``): no ``java``, Java older than 17, no jars and no way to get them, a KAFKA_HOME
without jars, a port held by another program, and a JVM that exits during start. Also: ``bootstrap()``
gives up on a silent address within seconds; starting a running broker is not an error; ``status``
has script-friendly exit codes.

Assumptions: a real Java 17+ and the cached Kafka jars are present (the fakes are made by changing
PATH, JAVA_HOME, KAFKA_HOME and EOSLAB_CACHE_DIR for the test only). Not covered: a Maven download
that fails half-way (it needs the network to misbehave on cue).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from eoslab.broker import EmbeddedBroker
from eoslab.kafka.connect import bootstrap
from eoslab.errors import BrokerUnavailable, EoslabError
from eoslab.broker.netutil import free_port_block

CLI_TIMEOUT_S = 90.0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``eoslab …`` in a child process with the current (monkeypatched) environment."""
    return subprocess.run([sys.executable, "-m", "eoslab", *args], capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S, env=dict(os.environ))


def bin_dir_with(tmp_path: Path, programs: dict[str, str]) -> Path:
    """A folder of executables to put on PATH: name -> shell script body or ``@/real/path`` (symlink)."""
    folder = tmp_path / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in programs.items():
        target = folder / name
        if body.startswith("@"):
            target.symlink_to(body[1:])
        else:
            target.write_text(f"#!/bin/sh\n{body}\n")
            target.chmod(0o755)
    return folder


def real_java() -> str:
    found = shutil.which("java")
    assert found, "these tests need a real Java 17+ on PATH"
    return os.path.realpath(found)


@dataclass(frozen=True)
class StartFailure:
    """One way ``start()`` must fail: how to provoke it, and what the message must contain."""

    name: str
    provoke: Callable[[Path, pytest.MonkeyPatch, ExitStack, EmbeddedBroker], None]
    expected: tuple[str, ...]


def no_java(tmp_path: Path, env: pytest.MonkeyPatch, _stack: ExitStack, _broker: EmbeddedBroker) -> None:
    env.setenv("PATH", str(bin_dir_with(tmp_path, {})))
    env.delenv("JAVA_HOME", raising=False)


def java_8_on_path(tmp_path: Path, env: pytest.MonkeyPatch, _stack: ExitStack, _broker: EmbeddedBroker) -> None:
    # What an old Oracle JRE prints, on stderr as the real one does.
    fake = 'echo \'java version "1.8.0_392"\' >&2\necho \'Java(TM) SE Runtime Environment (build 1.8.0_392-b08)\' >&2'
    env.setenv("PATH", str(bin_dir_with(tmp_path, {"java": fake})))
    env.delenv("JAVA_HOME", raising=False)


def java_11_in_java_home(tmp_path: Path, env: pytest.MonkeyPatch, _stack: ExitStack, _broker: EmbeddedBroker) -> None:
    java_home = tmp_path / "jdk-11"
    bin_dir_with(java_home, {"java": 'echo \'openjdk version "11.0.22" 2024-01-16\' >&2'})
    env.setenv("JAVA_HOME", str(java_home))


def no_jars_no_maven_no_kafka_home(tmp_path: Path, env: pytest.MonkeyPatch, _stack: ExitStack,
                                   _broker: EmbeddedBroker) -> None:
    env.setenv("PATH", str(bin_dir_with(tmp_path, {"java": "@" + real_java()})))  # java yes, mvn no
    env.delenv("JAVA_HOME", raising=False)
    env.delenv("KAFKA_HOME", raising=False)
    empty_cache = tmp_path / "empty-cache"
    empty_cache.mkdir()
    env.setenv("EOSLAB_CACHE_DIR", str(empty_cache))


def kafka_home_without_jars(tmp_path: Path, env: pytest.MonkeyPatch, _stack: ExitStack, _broker: EmbeddedBroker) -> None:
    not_kafka = tmp_path / "kafka_2.13-4.4.0"
    (not_kafka / "libs").mkdir(parents=True)
    (not_kafka / "libs" / "README").write_text("an unpacked source tarball has no jars\n")
    env.setenv("KAFKA_HOME", str(not_kafka))


def port_held_by_another_program(_tmp: Path, _env: pytest.MonkeyPatch, stack: ExitStack, broker: EmbeddedBroker) -> None:
    squatter = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    squatter.bind(("127.0.0.1", broker.ports.client))
    squatter.listen()


def data_dir_of_another_node(_tmp: Path, _env: pytest.MonkeyPatch, _stack: ExitStack, broker: EmbeddedBroker) -> None:
    # Storage formatted for node 2 of some other cluster: Kafka refuses it and the JVM exits with 1.
    broker.data_dir.mkdir(parents=True)
    (broker.data_dir / "meta.properties").write_text(
        "version=1\ncluster.id=7rE8wQ0ZQ6uWmXJ3kJ9xYg\nnode.id=2\ndirectory.id=Hq2vUe0mSa2wQ5cKjvQy4A\n")


def corrupt_jar_after_an_earlier_run(tmp_path: Path, env: pytest.MonkeyPatch, _stack: ExitStack,
                                     broker: EmbeddedBroker) -> None:
    # A half-downloaded distribution: the jar is there by name but holds no classes, so the JVM exits
    # before Kafka logs anything. The quoted line must be this JVM's, not the earlier run's log.
    libs = tmp_path / "kafka_2.13-4.4.0" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.4.0.jar").write_bytes(b"not a zip file")
    env.setenv("KAFKA_HOME", str(libs.parent))
    data_dir_of_another_node(tmp_path, env, _stack, broker)  # formatted already: the format step is skipped
    broker.log_dir.mkdir(parents=True)
    broker.server_log.write_text("[2026-01-01 10:00:00,000] INFO [KafkaRaftServer nodeId=1] Kafka Server started "
                                 "(kafka.server.KafkaRaftServer)\n")


START_FAILURES = [
    StartFailure("no java", no_java, ("no `java` found on PATH", "Java 17", "docker compose up -d kafka")),
    StartFailure("java 8 on PATH", java_8_on_path, ("is Java 8", "needs Java 17 or newer", "JAVA_HOME")),
    StartFailure("java 11 in JAVA_HOME", java_11_in_java_home, ("jdk-11/bin/java is Java 11", "Java 17")),
    StartFailure("no jars, no mvn, no KAFKA_HOME", no_jars_no_maven_no_kafka_home,
                 ("`mvn` is not installed", "install Java 17 and Maven", "set KAFKA_HOME",
                  "docker compose up -d kafka")),
    StartFailure("KAFKA_HOME without jars", kafka_home_without_jars,
                 ("KAFKA_HOME=", "has no libs/kafka_2.13-*.jar", "unset it")),
    StartFailure("port held by another program", port_held_by_another_program,
                 ("is in use", "not by the course's broker", "EOSLAB_BROKER_PORT=")),
    StartFailure("jvm exits during start", data_dir_of_another_node,
                 ("the broker exited during start with code 1", "Stored node id 2 doesn't match", "eoslab broker logs")),
    StartFailure("jvm cannot load the broker", corrupt_jar_after_an_earlier_run,
                 ("the broker exited during start with code 1", "kafka.Kafka")),
]


def assert_one_actionable_line(message: str, expected: tuple[str, ...]) -> None:
    assert "\n" not in message.strip(), f"not one line: {message!r}"
    for fragment in expected:
        assert fragment in message, f"{fragment!r} missing from: {message}"


@pytest.mark.parametrize("failure", START_FAILURES, ids=lambda failure: failure.name)
def test_start_failure_is_one_actionable_line_from_api_and_cli(
        failure: StartFailure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = EmbeddedBroker(state_dir=tmp_path / "state", port=free_port_block())
    with ExitStack() as stack:
        failure.provoke(tmp_path, monkeypatch, stack, broker)

        with pytest.raises(EoslabError) as raised:
            broker.start(quiet=True, timeout_s=60)
        assert_one_actionable_line(str(raised.value), failure.expected)
        assert not broker.is_running()

        cli = run_cli("broker", "--state-dir", str(broker.state_dir), "--port", str(broker.ports.client), "start")
    assert cli.returncode == 1, cli
    assert "Traceback" not in cli.stderr, cli.stderr
    error_lines = [line for line in cli.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and error_lines[0].startswith("eoslab: error: "), cli.stderr
    assert_one_actionable_line(error_lines[0], failure.expected)


def test_fetch_without_maven_names_the_three_ways_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_jars_no_maven_no_kafka_home(tmp_path, monkeypatch, ExitStack(), EmbeddedBroker(tmp_path / "unused", 1))

    cli = run_cli("broker", "fetch")

    assert cli.returncode == 1
    assert_one_actionable_line(cli.stderr.removeprefix("eoslab: error: "),
                               ("install Java 17 and Maven", "KAFKA_HOME", "docker compose up -d kafka"))


def test_bootstrap_gives_up_on_a_silent_address_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    closed_port = free_port_block(1)  # free now, and nothing will listen there
    address = f"127.0.0.1:{closed_port}"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", address)
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable) as raised:
        bootstrap()

    elapsed = time.monotonic() - started
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert_one_actionable_line(str(raised.value), (address, "KAFKA_BOOTSTRAP_SERVERS", "eoslab broker start"))


@pytest.mark.broker
def test_starting_a_running_broker_says_so_and_succeeds(controlled_broker: EmbeddedBroker) -> None:
    pid_before = controlled_broker.pid()

    assert controlled_broker.start(quiet=True) is False
    cli = run_cli("broker", "--state-dir", str(controlled_broker.state_dir),
                  "--port", str(controlled_broker.ports.client), "start")

    assert cli.returncode == 0, cli
    assert "already running" in cli.stdout and str(pid_before) in cli.stdout
    assert controlled_broker.pid() == pid_before, "the running broker must be left alone"


@pytest.mark.broker
def test_status_exits_0_when_running_and_3_when_stopped(controlled_broker: EmbeddedBroker, tmp_path: Path) -> None:
    running = run_cli("broker", "--state-dir", str(controlled_broker.state_dir),
                      "--port", str(controlled_broker.ports.client), "status")
    stopped = run_cli("broker", "--state-dir", str(tmp_path / "never-started"), "--port", "1", "status")

    assert running.returncode == 0 and "running (pid" in running.stdout, running
    assert str(controlled_broker.state_dir) in running.stdout
    assert stopped.returncode == 3 and "stopped" in stopped.stdout, stopped
