"""Find a Java runtime that can run Apache Kafka 4 (Java 17 or newer)."""

from __future__ import annotations

import functools
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
    """Return the ``java`` executable: ``$JAVA_HOME/bin/java`` if set (an error if it is not there:
    a JAVA_HOME that is ignored hides which Java runs), else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home).expanduser() / "bin" / "java"
        if not java.is_file():
            on_path = shutil.which("java")
            instead = f", or unset it to use the java on PATH ({on_path})" if on_path else ""
            raise EoslabError(f"JAVA_HOME={java_home} has no bin/java; point JAVA_HOME at a Java "
                              f"{MINIMUM_JAVA}+ installation (the folder that holds bin/java){instead}")
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


@functools.lru_cache(maxsize=8)
def _version_output(java: str, _modified_ns: int) -> str:
    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EoslabError(f"could not run `{java} -version` ({error}); {_HOW_TO_GET_JAVA}") from None
    return result.stderr + result.stdout


def version_output(java: Path) -> str:
    """What ``java -version`` prints (run once per executable and process)."""
    try:
        modified = Path(java).resolve().stat().st_mtime_ns
    except OSError:
        modified = 0
    return _version_output(str(java), modified)


def java_major_version(java: Path) -> int:
    output = version_output(java)
    # `java -version` prints e.g. 'openjdk version "17.0.15"' or 'java version "1.8.0_392"' to stderr.
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if not match:
        raise EoslabError(f"could not read the Java version from `{java} -version`; {_HOW_TO_GET_JAVA}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major
