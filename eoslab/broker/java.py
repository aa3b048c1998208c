"""Find a Java runtime that can run Apache Kafka 4 (Java 17 or newer)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import EoslabError

MINIMUM_JAVA = 17
_HOW_TO_GET_JAVA = (
    "install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`, "
    "`brew install openjdk@17`) or run the broker with `docker compose up -d kafka`"
)


def find_java() -> Path:
    """Return the ``java`` executable: ``$JAVA_HOME/bin/java`` if set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        java = Path(java_home) / "bin" / "java"
    else:
        found = shutil.which("java")
        if not found:
            raise EoslabError(f"no `java` found on PATH: the broker is a Java program; {_HOW_TO_GET_JAVA}")
        java = Path(found)
    major = java_major_version(java)
    if major < MINIMUM_JAVA:
        raise EoslabError(
            f"{java} is Java {major}, Apache Kafka 4 needs Java {MINIMUM_JAVA} or newer; "
            f"{_HOW_TO_GET_JAVA}, or point JAVA_HOME at one"
        )
    return java


def java_major_version(java: Path) -> int:
    try:
        result = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EoslabError(f"could not run `{java} -version` ({error}); {_HOW_TO_GET_JAVA}") from None
    # `java -version` prints e.g. 'openjdk version "17.0.15"' or 'java version "1.8.0_392"' to stderr.
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if not match:
        raise EoslabError(f"could not read the Java version from `{java} -version`; {_HOW_TO_GET_JAVA}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major
