"""The package's rooms and floors: imports point down, never up, and never in a circle.

``eoslab`` is one folder per job (docs/architecture.md). Each room sits on a floor; a module may
import from its own room or from a room on a lower floor, never from one on its own floor or
above. Rooms on one floor stay independent of each other, so each can be read alone. Every import
counts, including the ones inside functions (a lazy import is still a dependency). A new module
must be placed in a room: a file this test does not know fails it, so the map stays true.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "eoslab"

# room -> floor. Lower floors know nothing of higher ones.
FLOORS = {
    "errors": 0, "clientlog": 0,          # under everything
    "broker": 1,                          # run Apache Kafka
    "kafka": 2,                           # talk to it: the address, clients
    "chaos": 3, "observe": 3, "lessons": 3, "grading": 3,
    "workers": 4,                         # processes that really die; they run lesson code
    "widgets": 5, "cli": 5,               # what a learner clicks or types
    "": 6, "__main__": 6,                 # eoslab/__init__.py: the facade notebooks import first
}


def module_name(path: Path) -> str:
    parts = ["eoslab", *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


MODULES = {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports_of(module: str) -> set[str]:
    """Every eoslab module ``module`` imports, anywhere in its body, resolved to a module name."""
    path = MODULES[module]
    package = module if is_package(path) else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "eoslab")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "eoslab":
                continue
            # `from . import settings` imports a module; `from .x import name` imports from one.
            submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES]
            found.update(submodules or [target])
    found.discard(module)
    unknown = found - set(MODULES)
    assert not unknown, f"{module} imports {sorted(unknown)}, which do not exist"
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_lives_in_a_known_room() -> None:
    homeless = sorted(module for module in MODULES if room_of(module) not in FLOORS)
    assert not homeless, (f"{homeless} are in no room of tests/test_layering.py's FLOORS; put each module in the "
                          f"room whose job it does (docs/architecture.md) or add the room with its floor")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    room = room_of(module)
    upward = sorted(target for target in GRAPH[module]
                    if room_of(target) != room and FLOORS[room_of(target)] >= FLOORS[room])
    assert not upward, (f"{module} (room {room or 'eoslab'}, floor {FLOORS[room]}) imports "
                        + ", ".join(f"{t} (floor {FLOORS[room_of(t)]})" for t in upward)
                        + ": move the shared names down to the room that owns them")


def test_no_import_circle() -> None:
    # Tarjan's strongly connected components over the module graph.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not circles, f"import circles: {circles}"


def test_the_bottom_knows_nothing_above_it() -> None:
    """errors and clientlog import no eoslab module; the broker room only those two."""
    for module in ("eoslab.errors", "eoslab.clientlog"):
        assert not GRAPH[module], f"{module} imports {sorted(GRAPH[module])}"
    by_room: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        by_room[room_of(module)].update(room_of(t) for t in targets)
    assert by_room["broker"] <= {"broker", "errors", "clientlog"}, by_room["broker"]


def test_the_architecture_diagram_draws_every_import() -> None:
    """docs/architecture.md's Mermaid arrows are exactly the room-to-room imports (facade aside)."""
    text = (PACKAGE_DIR.parent / "docs" / "architecture.md").read_text()
    diagram = text.split("```mermaid", 1)[1].split("```", 1)[0]
    groups: dict[str, set[str]] = {}
    current = None
    for line in diagram.splitlines():
        words = line.split()
        if words[:1] == ["subgraph"]:
            current = words[1].split("[")[0]
            groups[current] = set()
        elif words == ["end"]:
            current = None
        elif current and len(words) == 1:
            groups[current].add(words[0])

    def expand(side: str) -> set[str]:
        rooms: set[str] = set()
        for name in (part.strip() for part in side.split("&")):
            rooms |= groups.get(name, {name})
        return rooms

    drawn = {(source, target) for line in diagram.splitlines() if "-->" in line
             for source in expand(line.split("-->")[0]) for target in expand(line.split("-->")[1])}
    actual = {(room_of(module), room_of(target)) for module, targets in GRAPH.items() for target in targets
              if room_of(module) not in ("", "__main__") and room_of(target) != room_of(module)}
    assert drawn - actual == set(), f"drawn but not imported: {sorted(drawn - actual)}"
    assert actual - drawn == set(), f"imported but not drawn in docs/architecture.md: {sorted(actual - drawn)}"


NOTEBOOKS = (sorted((PACKAGE_DIR.parent).glob("solutions/*/*.ipynb")) + sorted((PACKAGE_DIR.parent).glob("course/*/*.ipynb"))
             + [PACKAGE_DIR.parent / "course" / "START.ipynb"])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_notebooks_import_only_public_names(notebook: Path) -> None:
    """A notebook imports ``from eoslab.<room> import <name>`` with <name> in that room's ``__all__``."""
    import importlib
    import json

    wrong = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:  # IPython magics: the course's notebooks keep them out of import cells
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "eoslab":
                if node.module.count(".") > 1:
                    wrong.append(f"`from {node.module} import …` reaches inside a room")
                    continue
                public = set(getattr(importlib.import_module(node.module), "__all__", ()))
                wrong += [f"`{alias.name}` is not in {node.module}.__all__" for alias in node.names
                          if alias.name not in public]
            elif isinstance(node, ast.Import):
                wrong += [f"`import {alias.name}` reaches inside a room" for alias in node.names
                          if alias.name.startswith("eoslab.")]
    assert not wrong, "; ".join(wrong)
