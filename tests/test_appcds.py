"""AppCDS for the broker JVM: an archive is written at a clean stop and used next time; a bad one is ignored.

Specification (eoslab/broker/appcds.py): with no archive, the broker's JVM is told to write one at
exit, and a clean stop moves it into place beside the jars, where the next JVM maps it; an archive
the JVM cannot map (garbage, truncated, another Java's) is deleted and the broker starts without
it, never failing because of it; ``EOSLAB_APPCDS=0`` passes no CDS flag at all.

Assumptions: Java 17+ and the cached Kafka jars; the cache dir is a temporary one whose ``libs``
links to the real jars, so the learner's own archive is never touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eoslab.broker import EmbeddedBroker, appcds, jars, java
from eoslab.broker.netutil import free_port_block

pytestmark = pytest.mark.broker


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    libs = jars.find_libs()
    cache = tmp_path / "cache"
    (cache / f"kafka-{jars.KAFKA_VERSION}").mkdir(parents=True)
    (cache / f"kafka-{jars.KAFKA_VERSION}" / "libs").symlink_to(libs)
    monkeypatch.setenv("EOSLAB_CACHE_DIR", str(cache))
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    monkeypatch.delenv(appcds.ENV_SWITCH, raising=False)
    return cache


def jvm_command(broker: EmbeddedBroker) -> list[str]:
    return Path(f"/proc/{broker.pid()}/cmdline").read_text().split("\0")


def test_a_garbage_archive_does_not_stop_the_broker_and_a_clean_stop_writes_a_good_one(
        private_cache: Path, tmp_path: Path) -> None:
    java_bin, libs = java.find_java(), jars.find_libs()
    archive = appcds.archive_path(java_bin)
    assert archive.is_relative_to(private_cache / f"kafka-{jars.KAFKA_VERSION}")
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"not a CDS archive" * 100)

    broker = EmbeddedBroker(state_dir=tmp_path / "broker", port=free_port_block())
    try:
        assert broker.start(quiet=True)  # ready: metadata and a transaction
        command = jvm_command(broker)
        assert not [flag for flag in command if flag.startswith("-XX:SharedArchiveFile")], "garbage must not be mapped"
        assert [flag for flag in command if flag.startswith("-XX:ArchiveClassesAtExit")], "a new one is written"
        assert not archive.exists(), "the unusable archive is deleted"
    finally:
        broker.stop()
    assert archive.is_file() and archive.stat().st_size > 1_000_000, "a clean stop leaves an archive in place"
    options = list(broker.jvm_options)
    assert appcds.usable(archive, java_bin, libs, options)
    assert appcds.jvm_flags(java_bin, libs, options, None) == [f"-XX:SharedArchiveFile={archive}"]


def test_a_truncated_archive_is_discarded_and_the_switch_turns_it_off(
        private_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    java_bin, libs = java.find_java(), jars.find_libs()
    archive = appcds.archive_path(java_bin)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"\x00" * 4096)
    dump_to = tmp_path / "pending.jsa"
    assert appcds.jvm_flags(java_bin, libs, ["-Xmx256m"], dump_to) == [f"-XX:ArchiveClassesAtExit={dump_to}"]
    assert not archive.exists()
    monkeypatch.setenv(appcds.ENV_SWITCH, "0")
    assert appcds.jvm_flags(java_bin, libs, ["-Xmx256m"], dump_to) == []
