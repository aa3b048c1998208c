"""Apache Kafka's jars: from KAFKA_HOME, from the cache, or fetched once from Maven Central.

The version is named once, in ``pom.xml`` beside this file. The jars of one version are cached in
``<cache dir>/kafka-<version>/libs`` and reused offline; a folder is only trusted once a marker file
says the download finished, so an interrupted fetch is retried rather than half-used. The marker
names the pom's digest: when the pom gains a jar (as it did for Kafka's transaction tool), the cache
is fetched again where Maven is available, and the old jars keep serving the broker where it is not.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import EoslabError
from . import settings

POM = Path(__file__).with_name("pom.xml")
_COMPLETE_MARKER = ".complete"
FETCH_TIMEOUT_S = 900


def kafka_version() -> str:
    """The Apache Kafka version the course runs, as pinned in pom.xml."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    assert match, f"{POM} names no <kafka.version>"
    return match.group(1).strip()


KAFKA_VERSION = kafka_version()


def cached_libs_dir(version: str = KAFKA_VERSION) -> Path:
    return settings.cache_dir() / f"kafka-{version}" / "libs"


def _marker_text() -> str:
    return f"{KAFKA_VERSION} {hashlib.sha256(POM.read_bytes()).hexdigest()[:16]}\n"


def _cache_is_current(libs: Path) -> bool:
    marker = libs / _COMPLETE_MARKER
    return marker.is_file() and marker.read_text() == _marker_text()


def _cache_is_usable(libs: Path) -> bool:
    """Fetched completely, perhaps from an older pom: enough to run the broker."""
    return (libs / _COMPLETE_MARKER).is_file() and any(libs.glob("kafka_2.13-*.jar"))


def _three_ways_out() -> str:
    return (
        "install Java 17 and Maven (`apt-get install openjdk-17-jdk-headless maven`) so the jars can be "
        f"fetched, or set KAFKA_HOME to an unpacked Apache Kafka {KAFKA_VERSION} download, "
        "or run the broker with `docker compose up -d kafka`"
    )


def find_libs(fetch: bool = True, quiet: bool = False) -> Path:
    """Return a folder holding the broker's jars, fetching them with Maven if need be."""
    kafka_home = os.environ.get("KAFKA_HOME")
    if kafka_home:
        libs = Path(kafka_home).expanduser() / "libs"
        found = sorted(libs.glob("kafka_2.13-*.jar"))
        if not found:
            raise EoslabError(
                f"KAFKA_HOME={kafka_home} has no libs/kafka_2.13-*.jar; point it at an unpacked "
                f"Apache Kafka {KAFKA_VERSION} download, or unset it to fetch the jars with Maven"
            )
        versions = {match.group(1) for jar in found if (match := re.fullmatch(r"kafka_2\.13-(\d[^-]*)\.jar", jar.name))}
        if versions and KAFKA_VERSION not in versions:
            raise EoslabError(
                f"KAFKA_HOME={kafka_home} holds Apache Kafka {', '.join(sorted(versions))}, the course runs "
                f"{KAFKA_VERSION}; point KAFKA_HOME at an unpacked Apache Kafka {KAFKA_VERSION} download, "
                f"or unset it to fetch the jars with Maven"
            )
        return libs
    libs = cached_libs_dir()
    if _cache_is_current(libs):
        return libs
    if _cache_is_usable(libs) and (not fetch or not shutil.which("mvn")):
        return libs  # an older pom's jars: the broker runs; only newer extras (the tool jar) are missing
    if not fetch:
        raise EoslabError(f"the Kafka {KAFKA_VERSION} jars are not in {libs}; run `eoslab broker fetch`")
    return fetch_libs(quiet=quiet)


def fetch_libs(quiet: bool = False) -> Path:
    """Download the broker's jars from Maven Central into the cache (once per version)."""
    libs = cached_libs_dir()
    if _cache_is_current(libs):
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise EoslabError(f"the Kafka broker jars are not cached and `mvn` is not installed; {_three_ways_out()}")
    libs.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"Fetching Apache Kafka {KAFKA_VERSION} from Maven Central into {libs} (once, about 45 MB)…",
              file=sys.stderr, flush=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    command = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
               f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        raise EoslabError(f"fetching the Kafka jars with Maven took over {FETCH_TIMEOUT_S} s; "
                          f"check the network to Maven Central and retry `eoslab broker fetch`") from None
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        last = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["(no output)"]
        raise EoslabError(f"Maven could not fetch the Kafka jars ({last[0][:200]}); "
                          f"check the network to Maven Central and retry, or {_three_ways_out()}")
    (staging / _COMPLETE_MARKER).write_text(_marker_text())
    if libs.exists():
        shutil.rmtree(libs)
    staging.rename(libs)
    return libs
