"""Kafka's own transaction tool (``kafka-transactions.sh``) from Python.

The Python client's ``AdminClient`` (confluent-kafka 2.16) has no call for Kafka's
``ListTransactions``, ``DescribeTransactions`` or ``DescribeProducers`` requests, so a notebook
cannot ask the broker "which transactions are open, and for how long?" with it. Kafka's command-line
tool can: it is the Java class ``org.apache.kafka.tools.TransactionsCommand`` in the ``kafka-tools``
jar, which the course fetches with the broker's jars. This module runs that class — the very code
``kafka-transactions.sh`` runs — against whatever broker ``KAFKA_BOOTSTRAP_SERVERS`` names
(embedded or docker compose), and turns its tab-separated tables into rows.

Each call starts a JVM (about a second or two). The ``show_*`` functions are for notebooks: they
print a small table and, where the tool cannot run (no Java, as in docker compose's ``lab``
container), print one plain line saying so and how to run the same command in the broker's
container, instead of stopping the notebook.

    from eoslab.observe import txntool
    txntool.show_transactions(longer_than_ms=5000, state="Ongoing")   # open for more than 5 s
    txntool.show_transaction("payments-tx")          # state, epoch, duration, partitions
    txntool.show_producers("payments")               # who writes to a partition, open txn start offset
    txntool.show_features()                          # kafka-features.sh describe: transaction.version

:func:`describe_features` runs Kafka's ``kafka-features.sh describe`` the same way (the Python
client has no ``DescribeFeatures`` call either): the cluster's finalized feature levels, among them
``transaction.version`` (2 on a Kafka 4.x cluster: KIP-890's stricter protocol for clients that speak it).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..broker import jars
from ..broker.java import find_java
from ..broker.readiness import answers_metadata
from ..errors import BrokerUnavailable, EoslabError
from ..kafka.connect import bootstrap

TOOL_CLASS = "org.apache.kafka.tools.TransactionsCommand"
FEATURES_CLASS = "org.apache.kafka.tools.FeatureCommand"  # kafka-features.sh
TOOL_TIMEOUT_S = 60  # a JVM start plus one admin round trip; the admin client's own timeouts are shorter
DOCKER_COMMAND = ("docker compose exec kafka /opt/kafka/bin/kafka-transactions.sh "
                  "--bootstrap-server localhost:9092")


class TransactionToolUnavailable(EoslabError):
    """Kafka's transaction tool cannot run in this environment (no Java, or no kafka-tools jar)."""


def _tool_jar(libs: Path) -> Path:
    found = sorted(libs.glob("kafka-tools-[0-9]*.jar"))
    if not found:
        raise TransactionToolUnavailable(
            f"Kafka's transaction tool (kafka-tools jar) is not in {libs}; run `eoslab broker fetch` "
            f"(it needs Maven), or use `{DOCKER_COMMAND} …`")
    return found[-1]


def _command(arguments: Sequence[str], bootstrap_servers: str, tool_class: str = TOOL_CLASS) -> list[str]:
    try:
        java = find_java()
        libs = jars.find_libs(quiet=True)
    except TransactionToolUnavailable:
        raise
    except EoslabError as error:
        raise TransactionToolUnavailable(
            f"Kafka's transaction tool needs Java 17+ and Kafka's jars here ({error}); "
            f"in docker compose, run `{DOCKER_COMMAND} …` instead") from None
    _tool_jar(libs)
    # Quiet: the tool's own log goes nowhere; what it prints on stdout is the answer.
    return [str(java), "-Xmx128m", "-XX:TieredStopAtLevel=1", "-Dlog4j2.level=OFF", "-cp", f"{libs}/*",
            tool_class, "--bootstrap-server", bootstrap_servers, *arguments]


def run_tool(arguments: Sequence[str], bootstrap_servers: str | None = None, tool_class: str = TOOL_CLASS) -> str:
    """Run ``kafka-transactions.sh <arguments>`` (or ``tool_class``) against the course's broker; return its stdout."""
    servers = bootstrap_servers or bootstrap()  # checks that the broker answers, within seconds
    if bootstrap_servers and not answers_metadata(servers, 5):
        raise BrokerUnavailable(f"no Kafka broker answers at {servers} within 5 s; start it "
                                f"(`eoslab broker start` or `docker compose up -d kafka`)")
    command = _command(arguments, servers, tool_class)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise EoslabError(f"kafka-transactions {' '.join(arguments)} did not answer within {TOOL_TIMEOUT_S} s; "
                          f"is the broker at {servers} running? (`eoslab broker status`)") from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        reason = next((line for line in lines if "Exception" in line or "rror" in line), lines[-1] if lines else "")
        raise EoslabError(f"kafka-transactions {' '.join(arguments)} failed against {servers}: "
                          f"{reason.strip()[:300] or 'no output'}")
    return result.stdout


def parse_table(text: str) -> list[dict[str, str]]:
    """The tool's output — a header line and rows, tab-separated, cells padded — as dicts."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = [cell.strip() for cell in lines[0].rstrip("\t").split("\t")]
    rows = []
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.rstrip("\t").split("\t")]
        rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)))))
    return rows


def list_transactions(longer_than_ms: int | None = None, id_pattern: str | None = None, state: str | None = None,
                      bootstrap_servers: str | None = None) -> list[dict[str, str]]:
    """Every transactional id the coordinators know, with its producer id and state.

    ``longer_than_ms`` is the tool's ``--duration-filter``: ids whose current (or last)
    transaction started longer ago than that. The broker applies it whatever the state, so an idle
    id (``Empty``, ``CompleteCommit``) passes too; add ``state="Ongoing"`` to ask the question an
    alert asks — which transactions are open, and have been for too long?
    """
    arguments = ["list"]
    if longer_than_ms is not None:
        arguments += ["--duration-filter", str(longer_than_ms)]
    if id_pattern is not None:
        arguments += ["--transactional-id-pattern", id_pattern]
    rows = parse_table(run_tool(arguments, bootstrap_servers))
    return [row for row in rows if state is None or row.get("TransactionState") == state]


def describe_transaction(transactional_id: str, bootstrap_servers: str | None = None) -> dict[str, str]:
    """One transactional id: producer id and epoch, state, timeout, start, duration, partitions."""
    rows = parse_table(run_tool(["describe", "--transactional-id", transactional_id], bootstrap_servers))
    if not rows:
        raise EoslabError(f"the broker knows no transactional id {transactional_id!r}")
    return rows[0]


def describe_producers(topic: str, partition: int = 0, bootstrap_servers: str | None = None) -> list[dict[str, str]]:
    """The producers a partition's leader remembers: ids, epochs, last sequence, open transaction start."""
    return parse_table(run_tool(["describe-producers", "--topic", topic, "--partition", str(partition)],
                                bootstrap_servers))


def find_hanging(topic: str, partition: int | None = None, bootstrap_servers: str | None = None) -> list[dict[str, str]]:
    """Open transactions on the topic's partitions that their coordinator no longer knows (hanging)."""
    arguments = ["find-hanging", "--topic", topic]
    if partition is not None:
        arguments += ["--partition", str(partition)]
    return parse_table(run_tool(arguments, bootstrap_servers))


def describe_features(bootstrap_servers: str | None = None) -> list[dict[str, str]]:
    """The cluster's features (``kafka-features.sh describe``): name, supported range, finalized level."""
    rows = []
    for line in run_tool(["describe"], bootstrap_servers, FEATURES_CLASS).splitlines():
        # "Feature: transaction.version   SupportedMinVersion: 0   SupportedMaxVersion: 2   FinalizedVersionLevel: 2 …"
        fields = dict(re.findall(r"(\w+): (\S+)", line))
        if "Feature" in fields:
            rows.append(fields)
    return rows


def format_table(rows: Sequence[dict[str, str]], columns: Sequence[str] | None = None, limit: int = 10) -> str:
    """A small fixed-width table of ``rows`` (only ``columns`` if given, at most ``limit`` rows)."""
    if not rows:
        return "(none)"
    names = list(columns or rows[0].keys())
    shown = [[row.get(name, "") for name in names] for row in rows[:limit]]
    widths = [max(len(name), *(len(cells[index]) for cells in shown)) for index, name in enumerate(names)]
    lines = ["  ".join(name.ljust(width) for name, width in zip(names, widths))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(cells, widths)) for cells in shown]
    if len(rows) > limit:
        lines.append(f"… and {len(rows) - limit} more")
    return "\n".join(line.rstrip() for line in lines)


def _show(call, columns: Sequence[str] | None, *args, **kwargs) -> None:
    try:
        rows = call(*args, **kwargs)
    except TransactionToolUnavailable as error:
        print(f"Kafka's transaction tool cannot run here: {error}")
        return
    print(format_table([rows] if isinstance(rows, dict) else rows, columns))


def show_transactions(longer_than_ms: int | None = None, id_pattern: str | None = None,
                      state: str | None = None) -> None:
    """Print :func:`list_transactions` as a table (or, where the tool cannot run, one line why)."""
    _show(list_transactions, ["TransactionalId", "ProducerId", "TransactionState"],
          longer_than_ms=longer_than_ms, id_pattern=id_pattern, state=state)


def show_transaction(transactional_id: str) -> None:
    """Print :func:`describe_transaction` as a one-row table."""
    _show(describe_transaction, ["TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
                                 "TransactionDurationMs", "TransactionTimeoutMs", "TopicPartitions"],
          transactional_id)


def show_producers(topic: str, partition: int = 0) -> None:
    """Print :func:`describe_producers` as a table."""
    _show(describe_producers, ["ProducerId", "ProducerEpoch", "LastSequence", "CurrentTransactionStartOffset"],
          topic, partition)


def show_features(names: Sequence[str] | None = None) -> None:
    """Print :func:`describe_features` (only the features in ``names``, if given) as a table."""
    def call() -> list[dict[str, str]]:
        return [row for row in describe_features() if names is None or row["Feature"] in names]
    _show(call, ["Feature", "SupportedMinVersion", "SupportedMaxVersion", "FinalizedVersionLevel"])


def show_hanging(topic: str, partition: int | None = None) -> None:
    """Print :func:`find_hanging` as a table."""
    _show(find_hanging, None, topic, partition)
