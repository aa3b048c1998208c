"""The `lab` image as the Dockerfile builds it grades 00-orientation against the compose broker.

Specification: the Dockerfile's own instructions, carried out without Docker — a fresh venv stands
for the image's /usr/local, a sandbox folder for /, a user id no account has for ``learner``
(``useradd``, ``install -o``, ``COPY --chown`` and ``USER`` map to it), and PATH without Java (the
image has none) — give a working tree the learner owns, where nbgrader's assignment list finds
its exchange and ``eoslab grade 00-orientation`` grades the learner's notebook with full marks
against docker-compose.yml's `kafka` service (run by tests/compose_broker.py) with the `lab`
service's environment. The learner's notebook is unchanged by grading (sha256).

Assumptions: /usr/bin/python3 is 3.11+ with venv (Debian 12's 3.11.2 here) and stands in for the
image's Python; the test runs as root (it switches to the learner's uid; as another user it runs as
that user, which is already not root); the pip cache is warm. Not covered: Docker itself, the
python:3.11-slim base image's own packages (the interpreter running this test stands in for it).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import pytest

from compose_broker import ComposeRun, run_compose_services

REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.broker, pytest.mark.slow]
BUILD_TIMEOUT_S = 600
GRADE_TIMEOUT_S = 300
PIP_CACHE = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
JAVA_PROGRAMS = {"java", "javac", "jar", "jshell", "keytool", "mvn", "mvnDebug", "jfr", "jcmd", "jps"}


def learner_identity(uid: int) -> dict[str, object]:
    return {"user": uid, "group": uid, "extra_groups": []}


def unused_uid() -> int:
    taken = {entry.pw_uid for entry in pwd.getpwall()}
    return next(uid for uid in range(2000, 60000) if uid not in taken)


def dockerignore_allows(relative: str) -> bool:
    """.dockerignore's rules, the last matching one wins; a rule on a folder covers what is inside."""
    allowed = True
    parts = relative.split("/")
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        pattern = rule.removeprefix("!").rstrip("/")
        if pattern.startswith("**/"):
            matched = any(fnmatch(part, pattern[3:]) for part in parts)
        else:
            depth = pattern.count("/") + 1
            matched = len(parts) >= depth and fnmatch("/".join(parts[:depth]), pattern)
        if matched:
            allowed = rule.startswith("!")
    return allowed


@dataclass
class ImageBuild:
    """The Dockerfile's instructions carried out in a sandbox (see the module docstring)."""

    root: Path                    # stands for the image's /
    venv: Path                    # stands for /usr/local
    uid: int
    shims: Path
    workdir: str = "/"
    environment: dict[str, str] = field(default_factory=dict)
    user: str = "root"

    def host_path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def translate(self, text: str) -> str:
        # --no-cache-dir keeps the image small; here it would download every wheel again.
        return (text.replace("/usr/local", str(self.venv)).replace("/home/", f"{self.root}/home/")
                .replace(" --no-cache-dir", ""))

    def base_environment(self) -> dict[str, str]:
        home = self.host_path("/home/learner") if self.user == "learner" else self.host_path("/root")
        return {"PATH": f"{self.venv}/bin:{self.shims}", "HOME": str(home), "LANG": "C.UTF-8",
                "PIP_CACHE_DIR": PIP_CACHE, **self.environment}

    def run(self, command: str) -> None:
        done = subprocess.run(["bash", "-c", self.translate(command)], cwd=self.host_path(self.workdir),
                              env=self.base_environment(), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                              **(learner_identity(self.uid) if self.user == "learner" else {}))
        assert done.returncode == 0, f"RUN {command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    def copy(self, arguments: list[str]) -> None:
        owner = None
        while arguments[0].startswith("--"):
            option = arguments.pop(0)
            if option.startswith("--chown="):
                owner = option.split("=", 1)[1].split(":")[0]
        *sources, destination = arguments
        target = self.host_path(destination if destination.startswith("/") else f"{self.workdir}/{destination}")
        for source in sources:
            for path in [REPO / source, *sorted((REPO / source).rglob("*"))] if (REPO / source).is_dir() else [REPO / source]:
                relative = path.relative_to(REPO).as_posix()
                if not dockerignore_allows(relative):
                    continue
                inside = (target / path.relative_to(REPO / source)) if (REPO / source).is_dir() else \
                    (target / path.name if destination.endswith("/") else target)
                if path.is_dir():
                    inside.mkdir(parents=True, exist_ok=True)
                else:
                    inside.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, inside)
                if owner == "learner":
                    os.chown(inside, self.uid, self.uid)


def base_python() -> str:
    """The system's python3 when it is 3.11+ (a user's pyenv under /root is not readable by others)."""
    system = "/usr/bin/python3"
    check = subprocess.run([system, "-c", "import sys, venv; sys.exit(sys.version_info < (3, 11))"],
                           capture_output=True, timeout=30) if Path(system).is_file() else None
    if check is None or check.returncode != 0:
        pytest.skip("no /usr/bin/python3 3.11+ with venv to stand in for the image's Python")
    return system


def shim_bin(folder: Path, root: Path, uid: int) -> Path:
    """/usr/bin and /bin without Java, plus useradd/install/chown that map `learner` to ``uid``."""
    folder.mkdir()
    for directory in ("/usr/bin", "/bin"):
        for program in Path(directory).iterdir():
            if program.name in JAVA_PROGRAMS or "/jvm/" in str(program.resolve()) or (folder / program.name).exists():
                continue
            (folder / program.name).symlink_to(program)
    for name in ("useradd", "install", "chown"):
        (folder / name).unlink(missing_ok=True)
    (folder / "useradd").write_text(f"""#!/bin/bash
# useradd [--create-home] [--uid N] NAME: a home folder under the sandbox, owned by the learner's uid
name="${{@: -1}}"; mkdir -p "{root}/home/$name" && /bin/chown {uid}:{uid} "{root}/home/$name"
""")
    for name in ("install", "chown"):
        (folder / name).write_text(f"""#!/bin/bash
args=(); for arg in "$@"; do case "$arg" in learner) args+=({uid}) ;; learner:learner) args+=({uid}:{uid}) ;;
  *) args+=("$arg") ;; esac; done; exec /usr/bin/{name} "${{args[@]}}"
""")
    for name in ("useradd", "install", "chown"):
        (folder / name).chmod(0o755)
    return folder


def build_image(dockerfile: Path, sandbox: Path, uid: int, until: str | None = None) -> ImageBuild:
    """Carry out the Dockerfile, or its instructions up to the first ``until`` instruction."""
    sandbox.mkdir(parents=True)
    for folder in (sandbox, sandbox.parent):
        folder.chmod(0o755)  # the learner must reach its home inside
    build = ImageBuild(root=sandbox / "root", venv=sandbox / "usr-local", uid=uid,
                       shims=shim_bin(sandbox / "bin", sandbox / "root", uid))
    build.root.mkdir()
    (build.root / "root").mkdir()
    # FROM python:3.11-slim: a Python 3.11 with nothing installed, as root, that every user can run.
    subprocess.run([base_python(), "-m", "venv", str(build.venv)], check=True, timeout=120)
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, rest = line.strip().partition(" ")
        instruction = instruction.upper()
        if until and instruction == until:
            until = "done"
        elif until == "done":
            break
        if instruction == "RUN":
            build.run(rest)
        elif instruction == "WORKDIR":
            build.workdir = rest.strip()
            build.host_path(build.workdir).mkdir(parents=True, exist_ok=True)  # as Docker: by root, if missing
        elif instruction == "COPY":
            build.copy(shlex.split(rest))
        elif instruction == "ENV":
            key, _, value = rest.partition("=")
            build.environment[key.strip()] = build.translate(value.strip())
        elif instruction == "USER":
            build.user = rest.strip()
        elif instruction in ("FROM", "EXPOSE", "CMD", "LABEL"):
            continue
        else:
            raise AssertionError(f"the test does not know the Dockerfile instruction {instruction}")
    return build


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="eoslab-lab-image-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def compose_kafka(sandbox: Path) -> Iterator[ComposeRun]:
    with run_compose_services(["kafka"], sandbox / "compose") as run:
        assert run.wait_healthy("kafka").returncode == 0, run.services["kafka"].log_tail()
        yield run


@pytest.fixture(scope="module")
def image(sandbox: Path) -> ImageBuild:
    if os.geteuid() != 0:
        pytest.skip("reproducing the image's non-root learner needs root to switch users")
    return build_image(REPO / "Dockerfile", sandbox / "image", unused_uid())


def lab_environment(image: ImageBuild, compose_kafka: ComposeRun) -> dict[str, str]:
    """The `lab` container's environment: the image's ENV, compose's lab variables, no Java."""
    lab = compose_kafka.config["services"]["lab"]["environment"]
    # This module runs the single `kafka` service; the `cluster` profile's nodes, which the lab's
    # EOSLAB_CLUSTER_BOOTSTRAP names, are not running, so that variable is left out, not translated.
    lab = {key: value for key, value in lab.items() if key != "EOSLAB_CLUSTER_BOOTSTRAP"}
    environment = image.base_environment()
    environment.pop("PIP_CACHE_DIR")
    environment.update({key: compose_kafka.address(str(value), seen_from="lab") for key, value in lab.items()})
    return environment


def as_learner(image: ImageBuild, environment: dict[str, str], *command: str,
               timeout: float = GRADE_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=image.host_path(image.workdir), env=environment,
                          capture_output=True, text=True, timeout=timeout, **learner_identity(image.uid))


def test_the_working_tree_belongs_to_the_learner(image: ImageBuild) -> None:
    workdir = image.host_path(image.workdir)
    assert image.user == "learner"
    not_theirs = [str(path.relative_to(workdir)) for path in [workdir, *workdir.rglob("*")]
                  if path.stat().st_uid != image.uid]
    assert not not_theirs, f"owned by root in the image, so the learner cannot write there: {not_theirs[:10]}"
    assert shutil.which("java", path=image.base_environment()["PATH"]) is None, "the lab image has no Java"


def test_the_assignment_list_finds_the_exchange(image: ImageBuild, compose_kafka: ComposeRun) -> None:
    listed = as_learner(image, lab_environment(image, compose_kafka), "nbgrader", "list", timeout=120)
    output = listed.stdout + listed.stderr
    assert listed.returncode == 0, output[-3000:]
    assert "ERROR" not in output and "Permission" not in output, output[-3000:]


def test_eoslab_grade_grades_the_learners_notebook_against_the_compose_broker(image: ImageBuild,
                                                                             compose_kafka: ComposeRun) -> None:
    workdir = image.host_path(image.workdir)
    notebook = workdir / "course" / "00-orientation" / "00-orientation.ipynb"
    # The learner solved it: the solution notebook in place of the blank one, as theirs.
    shutil.copy2(REPO / "solutions" / "00-orientation" / "00-orientation.ipynb", notebook)
    os.chown(notebook, image.uid, image.uid)
    before = hashlib.sha256(notebook.read_bytes()).hexdigest()

    graded = as_learner(image, lab_environment(image, compose_kafka), "eoslab", "grade", "00-orientation")

    output = graded.stdout + graded.stderr
    assert graded.returncode == 0, output[-4000:]
    assert "Traceback" not in output and "PermissionError" not in output, output[-4000:]
    total = re.search(r"total\D*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)", output, re.IGNORECASE)
    assert total and float(total.group(1)) == float(total.group(2)) > 0, output[-4000:]
    assert hashlib.sha256(notebook.read_bytes()).hexdigest() == before, "grading changed the learner's notebook"


def test_the_old_dockerfile_fails_the_same_check(sandbox: Path) -> None:
    # The check can fail: WORKDIR alone creates the working tree owned by root.
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    old = sandbox / "Dockerfile.root-owned"
    old.write_text(re.sub(r" \\\n\s*&& install -d -o learner -g learner /home/learner/eoslab", "",
                          (REPO / "Dockerfile").read_text()).replace(" && rm -rf build eoslab.egg-info", ""))
    assert "install -d" not in old.read_text()
    build = build_image(old, sandbox / "old-image", unused_uid(), until="WORKDIR")
    workdir = build.host_path(build.workdir)
    assert workdir.stat().st_uid != build.uid
