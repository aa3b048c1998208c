"""eoslab.observe.txntool: Kafka's own transaction tool, run against the real broker, and where it cannot run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from eoslab.observe import txntool
from eoslab.broker import jars
from eoslab.kafka.clients import make_producer, unique_name
from eoslab.errors import BrokerUnavailable
from eoslab.broker.netutil import free_port

# What `kafka-transactions.sh describe` printed here (Kafka 4.4.0): tab-separated, cells padded.
DESCRIBE_OUTPUT = (
    "CoordinatorId\tTransactionalId\tProducerId\tProducerEpoch\tTransactionState\tTopicPartitions\t\n"
    "1            \tkt-stuck       \t1         \t0            \tOngoing         \tkt-demo-0      \t\n"
)


def test_the_tools_table_is_read_into_rows() -> None:
    rows = txntool.parse_table(DESCRIBE_OUTPUT)
    assert rows == [{"CoordinatorId": "1", "TransactionalId": "kt-stuck", "ProducerId": "1", "ProducerEpoch": "0",
                     "TransactionState": "Ongoing", "TopicPartitions": "kt-demo-0"}]
    assert txntool.parse_table("") == []
    assert "… and 1 more" in txntool.format_table(rows * 3, ["TransactionalId"], limit=2)


@pytest.fixture
def open_transaction(topic: str) -> Iterator[tuple[Producer, str]]:
    """A producer with one record written inside a transaction it has not finished."""
    transactional_id = unique_name("txntool")
    producer = make_producer({"transactional.id": transactional_id, "enable.idempotence": True})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"pending")
    producer.flush(10)
    yield producer, transactional_id
    producer.abort_transaction(10)


def test_an_open_transaction_is_listed_described_and_its_producer_seen(
        topic: str, open_transaction: tuple[Producer, str]) -> None:
    producer, transactional_id = open_transaction
    open_ones = txntool.list_transactions(id_pattern=transactional_id, state="Ongoing")
    assert [row["TransactionalId"] for row in open_ones] == [transactional_id], open_ones

    described = txntool.describe_transaction(transactional_id)
    assert described["TransactionState"] == "Ongoing" and described["ProducerEpoch"] == "0", described
    assert described["TopicPartitions"] == f"{topic}-0", described
    assert int(described["TransactionDurationMs"]) >= 0

    writers = txntool.describe_producers(topic, 0)
    assert [(row["ProducerId"], row["CurrentTransactionStartOffset"]) for row in writers] == [
        (described["ProducerId"], "0")], writers  # the open transaction starts at offset 0: the LSO is held there
    assert txntool.find_hanging(topic) == []  # open, but its coordinator knows it: not hanging

    producer.commit_transaction(10)
    producer.begin_transaction()  # the fixture's abort at the end needs a transaction to abort
    assert txntool.describe_transaction(transactional_id)["TransactionState"] in {"CompleteCommit", "Empty"}
    assert txntool.list_transactions(id_pattern=transactional_id, state="Ongoing") == []


def test_a_successor_with_the_same_id_raises_the_epoch_the_tool_shows(topic: str) -> None:
    transactional_id = unique_name("txntool-fence")
    first = make_producer({"transactional.id": transactional_id, "enable.idempotence": True})
    first.init_transactions(30)
    epoch_before = int(txntool.describe_transaction(transactional_id)["ProducerEpoch"])
    successor = make_producer({"transactional.id": transactional_id, "enable.idempotence": True})
    successor.init_transactions(30)
    assert int(txntool.describe_transaction(transactional_id)["ProducerEpoch"]) > epoch_before


def test_show_prints_a_small_table(open_transaction: tuple[Producer, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, transactional_id = open_transaction
    txntool.show_transaction(transactional_id)
    printed = capsys.readouterr().out
    assert transactional_id in printed and "Ongoing" in printed
    assert "CoordinatorId" not in printed  # only the columns a learner needs


def test_without_java_the_notebook_is_told_plainly_and_goes_on(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kafka_bootstrap: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java anywhere
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(txntool.TransactionToolUnavailable, match="needs Java 17"):
        txntool.list_transactions()
    txntool.show_transactions()  # prints why instead of raising: a notebook's Run All goes on
    printed = capsys.readouterr().out
    assert printed.startswith("Kafka's transaction tool cannot run here") and "docker compose exec kafka" in printed
    assert len(printed.strip().splitlines()) == 1


def test_jars_without_the_tool_say_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 kafka_bootstrap: str) -> None:
    libs = tmp_path / "kafka" / "libs"
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{jars.KAFKA_VERSION}.jar").write_bytes(b"")
    monkeypatch.setenv("KAFKA_HOME", str(libs.parent))
    with pytest.raises(txntool.TransactionToolUnavailable, match="kafka-tools jar.*eoslab broker fetch"):
        txntool.describe_transaction("anything")


def test_a_broker_that_does_not_answer_fails_within_seconds() -> None:
    with pytest.raises(BrokerUnavailable, match="no Kafka broker answers"):
        txntool.list_transactions(bootstrap_servers=f"127.0.0.1:{free_port()}")


def test_a_cache_from_an_older_pom_still_serves_the_broker_without_maven(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    monkeypatch.setenv("EOSLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no mvn: nothing can be fetched again
    libs = jars.cached_libs_dir()
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{jars.KAFKA_VERSION}.jar").write_bytes(b"")
    (libs / ".complete").write_text(jars.KAFKA_VERSION + "\n")  # the marker an older eoslab wrote
    assert not jars._cache_is_current(libs)
    assert jars.find_libs(quiet=True) == libs


def test_the_command_line_lists_an_open_transaction(open_transaction: tuple[Producer, str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from eoslab.cli.main import main

    _, transactional_id = open_transaction
    assert main(["transactions", "list", "--open-longer-than", "0"]) == 0
    assert transactional_id in capsys.readouterr().out
    assert main(["transactions", "describe", unique_name("unknown")]) == 1
    assert "could not be found" in capsys.readouterr().err


def test_the_brokers_finalized_transaction_version_is_read(kafka_bootstrap: str) -> None:
    """09 shows it live: Kafka 4.4 finalizes transaction.version 2 (KIP-890 part 2) on a new cluster."""
    features = {row["Feature"]: row for row in txntool.describe_features()}
    assert "transaction.version" in features, sorted(features)
    assert features["transaction.version"]["FinalizedVersionLevel"] == "2", features["transaction.version"]
    assert int(features["transaction.version"]["SupportedMaxVersion"]) >= 2
