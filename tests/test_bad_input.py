"""Bad input on a learner's machine gets one line that names the cause and what to do, within 10 s.

Specification (issue 14, every case tried by hand first): an out-of-range ``EOSLAB_BROKER_PORT``
(70000, and 65534 whose +3 port overflows), ``JAVA_HOME`` pointing nowhere (named, not silently
replaced by the java on PATH), the fault proxy's port held by another program (named, not assumed
to be a FaultProxy), ``eoslab broker status | head -1`` (no BrokenPipeError), a malformed
``KAFKA_BOOTSTRAP_SERVERS``, a state dir that cannot be written, a ``KAFKA_HOME`` of another Kafka
version, and ``eoslab broker status`` against a broker the course did not start (says what serves
the course). Commands exit non-zero with ``eoslab: error: …`` and no traceback; in a notebook the
cell fails with the same one line (``EoslabError``), and the learner's notebook file is unchanged.

Assumptions: a real Java 17+ (for the cases that get as far as looking for it). Each case is timed
from the command's start; the bound is generous for a loaded 2-core machine and still far below the
minute-long hangs and tracebacks these replaced.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from eoslab.broker.netutil import free_port, free_port_block
from eoslab.chaos import FaultProxy
from eoslab.errors import EoslabError
from eoslab.kafka import broker_in_use, client_versions

from course_copy import course_repo_copy

REPO = Path(__file__).resolve().parent.parent
MESSAGE_DEADLINE_S = 10.0


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs}
    result = subprocess.run([sys.executable, "-m", "eoslab", *args], text=True, timeout=60,
                            env=env if env is not None else dict(os.environ), **streams)  # type: ignore[call-overload]
    return result, time.monotonic() - started


def assert_one_line_error(result: subprocess.CompletedProcess[str], elapsed: float, *fragments: str) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("eoslab: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} missing from: {lines[0]}"
    assert elapsed < MESSAGE_DEADLINE_S, f"took {elapsed:.1f} s"
    return lines[0]


def learner_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    """This environment with a state dir of its own and no configured broker, then ``changes``."""
    env = {key: value for key, value in os.environ.items() if key not in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_HOME")}
    env.update(EOSLAB_STATE_DIR=str(tmp_path / "state"), EOSLAB_BROKER_PORT=str(free_port_block()))
    env.update(changes)
    return env


# ---- EOSLAB_BROKER_PORT ----------------------------------------------------------------------------

@pytest.mark.parametrize("port, last", [("70000", "70003"), ("65534", "65537")])
@pytest.mark.parametrize("action", ["start", "status"])
def test_a_broker_port_out_of_range_is_one_line(tmp_path: Path, port: str, last: str, action: str) -> None:
    result, elapsed = run_cli("broker", action, env=learner_env(tmp_path, EOSLAB_BROKER_PORT=port))
    assert_one_line_error(result, elapsed, f"EOSLAB_BROKER_PORT={port}", f"up to {last}", "65532",
                          "EOSLAB_BROKER_PORT=9192")


def test_a_port_option_out_of_range_is_one_line(tmp_path: Path) -> None:
    result, elapsed = run_cli("broker", "--port", "65533", "start", env=learner_env(tmp_path))
    assert_one_line_error(result, elapsed, "broker port 65533", "up to 65536", "--port 9192")


# ---- JAVA_HOME, KAFKA_HOME, the state dir --------------------------------------------------------

def test_java_home_pointing_nowhere_is_named_not_ignored(tmp_path: Path) -> None:
    result, elapsed = run_cli("broker", "start", env=learner_env(tmp_path, JAVA_HOME="/nonexistent"))
    assert_one_line_error(result, elapsed, "JAVA_HOME=/nonexistent has no bin/java", "Java 17+", "unset it")


def test_kafka_home_of_another_kafka_version_is_refused(tmp_path: Path) -> None:
    libs = tmp_path / "kafka_2.13-3.7.0" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-3.7.0.jar").write_bytes(b"")
    result, elapsed = run_cli("broker", "start", env=learner_env(tmp_path, KAFKA_HOME=str(libs.parent)))
    assert_one_line_error(result, elapsed, "holds Apache Kafka 3.7.0", "the course runs 4.4.0", "unset it")


def test_a_state_dir_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("a file where a folder should be (root may write anywhere else)\n")
    result, elapsed = run_cli("broker", "start", env=learner_env(tmp_path, EOSLAB_STATE_DIR=str(not_a_folder / "x")))
    assert_one_line_error(result, elapsed, "cannot write the broker's state dir", "EOSLAB_STATE_DIR")


# ---- KAFKA_BOOTSTRAP_SERVERS ---------------------------------------------------------------------

@pytest.mark.parametrize("value", ["http://127.0.0.1:9092", "127.0.0.1:notaport", "127.0.0.1:70000", " , "])
def test_a_malformed_bootstrap_address_is_refused_at_once(tmp_path: Path, value: str) -> None:
    result, elapsed = run_cli("broker", "status", env=learner_env(tmp_path, KAFKA_BOOTSTRAP_SERVERS=value))
    assert_one_line_error(result, elapsed, "KAFKA_BOOTSTRAP_SERVERS=", "is not a list of host:port", "127.0.0.1:9092")


def test_the_compose_host_name_outside_compose_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import eoslab

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:19092")
    started = time.monotonic()
    with pytest.raises(EoslabError, match=r"'kafka' does not resolve here .*docker compose only.*127\.0\.0\.1:9092"):
        eoslab.bootstrap()
    assert time.monotonic() - started < MESSAGE_DEADLINE_S


NOTEBOOK_CASES = {
    "malformed bootstrap address": ({"KAFKA_BOOTSTRAP_SERVERS": "http://127.0.0.1:9092"}, "is not a list of host:port"),
    "broker port out of range": ({"EOSLAB_BROKER_PORT": "70000"}, "EOSLAB_BROKER_PORT=70000 cannot be used"),
}


@pytest.mark.parametrize("case", NOTEBOOK_CASES, ids=list(NOTEBOOK_CASES))
def test_in_a_notebook_the_cell_fails_with_the_one_line_and_the_notebook_is_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    changes, fragment = NOTEBOOK_CASES[case]
    learner_copy = tmp_path / "00-orientation.ipynb"
    learner_copy.write_bytes((REPO / "course" / "00-orientation" / "00-orientation.ipynb").read_bytes())
    before = hashlib.sha256(learner_copy.read_bytes()).hexdigest()
    for key, value in learner_env(tmp_path, **changes).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    for key, value in changes.items():
        monkeypatch.setenv(key, value)

    notebook = nbformat.read(learner_copy, as_version=4)
    client = NotebookClient(notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                            record_timing=True)
    with pytest.raises(CellExecutionError) as raised:
        client.execute()

    failed = next(cell for cell in notebook.cells if cell.cell_type == "code" and
                  any(output.get("output_type") == "error" for output in cell.get("outputs", [])))
    error = next(output for output in failed.outputs if output.output_type == "error")
    assert error.ename == "EoslabError" and fragment in error.evalue, (error.ename, error.evalue)
    assert len(error.traceback) == 1, "the learner sees one line, not a traceback"
    timing = failed.metadata["execution"]
    took = (_timestamp(timing["shell.execute_reply"]) - _timestamp(timing["iopub.execute_input"]))
    assert took < MESSAGE_DEADLINE_S, f"the cell took {took:.1f} s to fail"
    assert "EoslabError" in str(raised.value)
    assert hashlib.sha256(learner_copy.read_bytes()).hexdigest() == before, "the learner's notebook changed"


def _timestamp(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# ---- the fault proxy's port ----------------------------------------------------------------------

def test_the_proxy_port_held_by_another_program_names_it() -> None:
    port = free_port()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys, time\n"
        f"s = socket.create_server(('127.0.0.1', {port}))\n"
        "print('listening', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "listening"
        started = time.monotonic()
        with pytest.raises(EoslabError) as raised:
            FaultProxy(f"127.0.0.1:{port}", "127.0.0.1:1").start()
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(10)
    message = str(raised.value)
    assert "\n" not in message and elapsed < MESSAGE_DEADLINE_S
    assert f"port {port} on 127.0.0.1 is in use by python" in message and f"(pid {holder.pid})" in message, message
    assert "FaultProxy" not in message, "the holder is another program, not a FaultProxy"
    assert "EOSLAB_BROKER_PORT" in message


def test_the_proxy_port_held_by_another_proxy_in_this_process_says_so() -> None:
    with FaultProxy(f"127.0.0.1:{free_port()}", "127.0.0.1:1") as first:
        with pytest.raises(EoslabError, match=r"another FaultProxy in this kernel.*stop\(\)"):
            FaultProxy(first.bootstrap, "127.0.0.1:1").start()


def test_a_proxy_address_out_of_range_is_one_line() -> None:
    with pytest.raises(EoslabError, match=r"'127\.0\.0\.1:70000' is not host:port with a port from 1 to 65535"):
        FaultProxy("127.0.0.1:70000", "127.0.0.1:9094")


# ---- eoslab broker status ------------------------------------------------------------------------

def test_status_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -1` after head has gone: every write fails with EPIPE
    try:
        result, elapsed = run_cli("broker", "status", env=learner_env(tmp_path), stdout=write_end)
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    assert result.stderr.strip() == ""
    assert result.returncode == 141, "the exit status of a program ended by SIGPIPE"
    assert elapsed < MESSAGE_DEADLINE_S


def test_status_into_head_shows_the_first_line(tmp_path: Path) -> None:
    env = learner_env(tmp_path)
    shell = subprocess.run(f"{sys.executable} -m eoslab broker status | head -1", shell=True, capture_output=True,
                           text=True, timeout=60, env=env)
    assert shell.stdout.startswith("Apache Kafka 4.4.0 broker: stopped"), shell
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr, shell.stderr


@pytest.mark.broker
def test_status_against_a_broker_the_course_did_not_start_says_what_serves_the_course(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    # The session broker, seen as an external one: the course's own ports and state dir are elsewhere.
    result, elapsed = run_cli("broker", "status", env=learner_env(tmp_path, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap))
    assert result.returncode == 0, result
    assert f"external broker (not started by the course) at {kafka_bootstrap} (KAFKA_BOOTSTRAP_SERVERS): 1 broker" \
        in result.stdout, result.stdout
    assert "stopped" not in result.stdout and elapsed < MESSAGE_DEADLINE_S


def test_status_against_an_external_address_that_does_not_answer(tmp_path: Path) -> None:
    silent = f"127.0.0.1:{free_port()}"
    result, elapsed = run_cli("broker", "status", env=learner_env(tmp_path, KAFKA_BOOTSTRAP_SERVERS=silent))
    assert result.returncode == 3, result
    assert "no broker answering" in result.stdout and "docker compose up -d kafka" in result.stdout, result.stdout
    assert elapsed < MESSAGE_DEADLINE_S


# ---- what 00-orientation prints about the broker -------------------------------------------------

@pytest.mark.broker
def test_broker_in_use_names_the_embedded_broker_and_its_version(session_broker: object) -> None:
    if session_broker is None:
        pytest.skip("needs the embedded broker")
    in_use = broker_in_use()
    assert in_use.embedded and in_use.kafka_version == "4.4.0" and in_use.brokers == 1
    assert in_use.describe().startswith("Apache Kafka 4.4.0, the course's embedded broker at ")


@pytest.mark.broker
def test_broker_in_use_does_not_claim_an_external_broker_is_embedded(kafka_bootstrap: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EOSLAB_BROKER_PORT", str(free_port_block()))  # the course's own broker: not this one
    in_use = broker_in_use()
    assert not in_use.embedded and in_use.kafka_version is None and in_use.brokers == 1
    assert "embedded" not in in_use.describe() and "not started by the course" in in_use.describe()


def test_client_versions_are_whole_version_numbers() -> None:
    import confluent_kafka

    text = client_versions()
    version = confluent_kafka.version()
    expected = version if isinstance(version, str) else version[0]
    assert f"confluent-kafka {expected}," in text and len(expected) > 2, text
    assert f"librdkafka {confluent_kafka.libversion()[0]}" in text


def test_orientation_prints_the_broker_in_use_not_a_fixed_claim() -> None:
    for tree in ("solutions", "course"):
        notebook = nbformat.read(REPO / tree / "00-orientation" / "00-orientation.ipynb", as_version=4)
        source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        assert "(embedded broker)" not in source and "version()[0]" not in source, tree
        assert "broker_in_use().describe()" in source and "client_versions()" in source, tree


# ---- eoslab grade ---------------------------------------------------------------------------------
# Each case: one line naming the cause and what to do, a non-zero exit, a time bound, and the
# learner's notebook unchanged (sha256).

def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def grading_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    """``learner_env`` with a course of its own (a run of 00 elsewhere in the suite holds the
    repository's grading lock for 00) and a progress file of its own."""
    course = course_repo_copy(tmp_path / "course-repo", "00-orientation")
    return learner_env(tmp_path, EOSLAB_COURSE_ROOT=str(course), EOSLAB_PROGRESS_FILE=str(tmp_path / "progress.json"),
                       **changes)


def _orientation_copy(tmp_path: Path) -> Path:
    learner = tmp_path / "my-00.ipynb"
    learner.write_bytes((REPO / "solutions" / "00-orientation" / "00-orientation.ipynb").read_bytes())
    return learner


def test_grade_with_no_broker_refuses_at_once(tmp_path: Path) -> None:
    learner = _orientation_copy(tmp_path)
    before = _sha256(learner)
    result, elapsed = run_cli("grade", "00-orientation", str(learner), env=grading_env(tmp_path), cwd=tmp_path)
    line = assert_one_line_error(result, elapsed, "no Kafka broker answers at 127.0.0.1:", "eoslab broker start",
                                 "grade again")
    assert result.stdout == "", "nothing is graded, so no score table"
    assert _sha256(learner) == before and not (tmp_path / "progress.json").exists(), line


def test_grade_with_an_external_broker_that_does_not_answer_names_it(tmp_path: Path) -> None:
    learner = _orientation_copy(tmp_path)
    address = f"127.0.0.1:{free_port()}"
    result, elapsed = run_cli("grade", "00-orientation", str(learner), cwd=tmp_path,
                              env=grading_env(tmp_path, KAFKA_BOOTSTRAP_SERVERS=address))
    assert_one_line_error(result, elapsed, f"no Kafka broker answers at {address} (KAFKA_BOOTSTRAP_SERVERS)",
                          "docker compose up -d kafka")


@pytest.mark.parametrize("damage", ["truncated", "not-a-notebook"])
def test_grade_of_a_notebook_that_is_not_valid_json_names_the_file(tmp_path: Path, damage: str) -> None:
    learner = _orientation_copy(tmp_path)
    text = learner.read_text()
    learner.write_text(text[: len(text) // 2] if damage == "truncated" else '{"cells": "none"}')
    before = _sha256(learner)
    result, elapsed = run_cli("grade", "00-orientation", str(learner), cwd=tmp_path, env=grading_env(tmp_path))
    expected = "is not valid JSON (line " if damage == "truncated" else "is JSON but not a Jupyter notebook"
    assert_one_line_error(result, elapsed, str(learner), expected, "eoslab reset 00-orientation")
    assert _sha256(learner) == before


DEAD_KERNEL_DEADLINE_S = 90.0  # a scratch course, a kernel, the cells before the one that dies


@pytest.mark.broker
def test_grade_of_a_notebook_whose_kernel_dies_names_the_cell(kafka_bootstrap: str, tmp_path: Path) -> None:
    notebook = nbformat.read(REPO / "solutions" / "00-orientation" / "00-orientation.ipynb", as_version=4)
    first_code = next(index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells.insert(first_code + 1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    learner = tmp_path / "my-00.ipynb"
    nbformat.write(notebook, learner)
    before = _sha256(learner)
    env = {**os.environ, "EOSLAB_PROGRESS_FILE": str(tmp_path / "progress.json"),
           "EOSLAB_COURSE_ROOT": str(course_repo_copy(tmp_path / "course-repo", "00-orientation"))}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "eoslab", "grade", "00-orientation", str(learner)], text=True,
                            capture_output=True, timeout=300, env=env, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "kernel died while running cell" in lines[0] and "os._exit(1)" in lines[0], lines[0]
    assert f"cell {first_code + 2} " in lines[0], f"the dying cell is cell {first_code + 2}: {lines[0]}"
    assert elapsed < DEAD_KERNEL_DEADLINE_S, f"took {elapsed:.1f} s"
    assert _sha256(learner) == before
