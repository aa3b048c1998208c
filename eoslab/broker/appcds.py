"""AppCDS: the broker JVM starts from an archive of the classes it loaded last time.

The apache/kafka image starts its JVM with an application class-data sharing archive; the course
does the same for the embedded broker and every cluster node. A JVM that starts with no usable
archive writes one when it exits cleanly (``-XX:ArchiveClassesAtExit``, Java 13+: a dynamic
archive on top of the JDK's own); later JVMs map it (``-XX:SharedArchiveFile``) instead of loading
and verifying several thousand classes from the jars. That roughly halves the JVM's part of a start.

One archive per Apache Kafka version and Java runtime, cached beside the jars:
``<cache dir>/kafka-<version>/appcds/<java build>-<java path digest>.jsa``.

What it guarantees: an archive is only passed to a JVM after a ``-Xshare:on`` check with the same
class path and options has mapped it (a ~0.1 s JVM, once per archive and option set; the result is
remembered beside the archive); a stale, truncated or foreign archive fails that check and is
deleted, and the broker starts without it (the next clean stop writes a new one). Never fatal:
anything that goes wrong here means "start without an archive". Each JVM dumps to a file of its
own, renamed into place by :func:`promote` after a clean stop, so parallel nodes never write the
same file. ``EOSLAB_APPCDS=0`` turns it off (``bench/broker_startup.py`` measures both).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

from . import jars, java, settings

CHECK_TIMEOUT_S = 20.0
ENV_SWITCH = "EOSLAB_APPCDS"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def archive_dir() -> Path:
    return settings.cache_dir() / f"kafka-{jars.KAFKA_VERSION}" / "appcds"


def archive_path(java_bin: Path) -> Path:
    """The archive for this Java runtime (its build and its installation) and this Kafka version."""
    output = java.version_output(java_bin)
    build = re.search(r"\(build ([^,)]+)", output)
    label = re.sub(r"[^A-Za-z0-9_.+-]", "_", build.group(1) if build else "unknown")
    where = hashlib.sha256(str(Path(java_bin).resolve()).encode()).hexdigest()[:8]
    return archive_dir() / f"java-{label}-{where}.jsa"


def _options_key(archive: Path, libs: Path, options: list[str]) -> str:
    stat = archive.stat()
    return hashlib.sha256("\0".join([str(libs), *options, str(stat.st_size), str(stat.st_mtime_ns)]).encode()
                          ).hexdigest()[:16]


def usable(archive: Path, java_bin: Path, libs: Path, options: list[str]) -> bool:
    """True if the JVM maps ``archive`` with this class path and these options (checked once)."""
    try:
        if not archive.is_file() or archive.stat().st_size == 0:
            return False
        key = _options_key(archive, libs, options)
        marker = archive.with_name(f"{archive.name}.{key}.ok")
        if marker.is_file():
            return True
        result = subprocess.run([str(java_bin), *options, "-Xshare:on", f"-XX:SharedArchiveFile={archive}",
                                 "-cp", f"{libs}/*", "-version"], capture_output=True, text=True,
                                timeout=CHECK_TIMEOUT_S)
        if result.returncode == 0:
            marker.write_text("mapped by -Xshare:on\n")
            return True
        discard(archive)
        return False
    except (OSError, subprocess.SubprocessError):
        return False


def discard(archive: Path) -> None:
    """Delete an archive the JVM cannot use, and what was remembered about it."""
    archive.unlink(missing_ok=True)
    discard_markers(archive)


def jvm_flags(java_bin: Path, libs: Path, options: list[str], dump_to: Path | None) -> list[str]:
    """The flags for one JVM: map the archive if it is usable, else (with ``dump_to``) write one
    there at a clean exit, else nothing."""
    if not enabled():
        return []
    try:
        archive = archive_path(java_bin)
        if usable(archive, java_bin, libs, options):
            return [f"-XX:SharedArchiveFile={archive}"]
        if dump_to is None:
            return []
        archive.parent.mkdir(parents=True, exist_ok=True)
        dump_to.unlink(missing_ok=True)
        return [f"-XX:ArchiveClassesAtExit={dump_to}"]
    except Exception:  # noqa: BLE001 - never fatal: start without an archive
        return []


def pending_path(java_bin: Path, state_dir: Path) -> Path:
    """Where the JVM of the node in ``state_dir`` writes its archive at exit (one file per node)."""
    archive = archive_path(java_bin)
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:10]
    return archive.with_name(f"{archive.name}.{digest}.pending")


def promote(note: Path) -> None:
    """After a JVM's clean stop: move the archive it wrote (named in ``note``) into place."""
    try:
        pending, archive = (Path(line) for line in note.read_text().splitlines()[:2])
        note.unlink()
        if pending.is_file() and pending.stat().st_size > 0:
            os.replace(pending, archive)
            discard_markers(archive)
        else:
            pending.unlink(missing_ok=True)
    except (OSError, ValueError):
        pass


def discard_markers(archive: Path) -> None:
    for path in archive.parent.glob(f"{archive.name}.*.ok"):
        try:
            path.unlink()
        except OSError:
            pass
