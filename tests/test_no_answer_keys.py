"""No answer key can be read from a student notebook (issue 15, item 1).

For every assignment in ``course/``: each graded cell of the solution that checks an *answer cell*
(a knowledge check, a prediction: a top-level ``name = …`` inside ``### BEGIN SOLUTION``) has its
key material collected from the solution notebook:

- the ``correct=`` value of every ``score_single`` / ``score_multi`` call (a letter, a set of letters);
- every ``explanation=`` string (the feedback a learner sees only after grading);
- every ``"name": "value"`` pair of a dict literal whose keys are the answer's own keys (03's
  ``_expected`` outcomes), and every longer string constant inside the hidden region.

The test then looks for that material in the student notebook (every cell's source and outputs):
a ``correct=`` literal with the key's value, a comparison of the answer variable with the key, the
pair ``"name": "value"``, "the answer is (b)" in an output, or the explanation text itself
(whitespace-insensitive). A key that sits inside ``### BEGIN HIDDEN TESTS`` is removed by
``nbgrader generate_assignment`` and so passes; a key in the visible part of the cell fails.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from eoslab.grading.course import assignments, source_notebook, student_notebook
from eoslab.grading.variants import answer_cells, graded_cells

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = assignments(REPO)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.DOTALL)
LONG_STRING = 30  # characters: a hidden string this long is feedback, not a coincidence
SCORERS = {"score_single", "score_multi"}


@dataclass
class Key:
    grade_id: str
    letters: list[frozenset[str]] = field(default_factory=list)  # each correct= value, as picks
    texts: list[str] = field(default_factory=list)  # explanations and other hidden strings
    pairs: list[tuple[str, str]] = field(default_factory=list)  # "name": "value" of an expected dict

    def empty(self) -> bool:
        return not (self.letters or self.texts or self.pairs)


def _squash(text: str) -> str:
    return " ".join(text.split()).lower()


def _picks(value: object) -> frozenset[str] | None:
    if isinstance(value, str):
        return frozenset({value.strip().lower()})
    if isinstance(value, (set, frozenset, list, tuple)) and all(isinstance(item, str) for item in value):
        return frozenset(item.strip().lower() for item in value)
    return None


def _parse(source: str) -> ast.Module | None:
    # Dedent the block a graded cell keeps under ``with when_written(graded=True):`` is not needed:
    # the whole cell parses as it stands (it is valid Python in the solution).
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _answer_names(notebook: nbformat.NotebookNode) -> set[str]:
    """Names an answer cell assigns at its top level (not functions: those are code exercises)."""
    names: set[str] = set()
    for cell in answer_cells(notebook).values():
        tree = _parse(cell.source)
        for node in tree.body if tree else []:
            if isinstance(node, ast.Assign):
                names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def _constant(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _key_of(grade_id: str, source: str) -> Key:
    key = Key(grade_id)
    tree = _parse(source)
    if tree is None:
        return key
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in SCORERS:
            for keyword in node.keywords:
                value = _constant(keyword.value)
                if keyword.arg == "correct" and _picks(value) is not None:
                    key.letters.append(_picks(value))
                if keyword.arg == "explanation" and isinstance(value, str) and value.strip():
                    key.texts.append(value)
        if isinstance(node, ast.Dict):
            for name, value in zip(node.keys, node.values):
                name, value = _constant(name) if name else None, _constant(value)
                outcome = value[0] if isinstance(value, tuple) and value else value
                if isinstance(name, str) and isinstance(outcome, str):
                    key.pairs.append((name, outcome))
                if isinstance(value, tuple):
                    key.texts += [item for item in value[1:] if isinstance(item, str) and len(item) >= LONG_STRING]
    for region in HIDDEN.findall(source):
        hidden = _parse(_dedent_block(region))
        for node in ast.walk(hidden) if hidden else []:
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= LONG_STRING:
                key.texts.append(node.value)
    return key


def _dedent_block(region: str) -> str:
    lines = [line for line in region.split("\n") if line.strip()]
    indent = min((len(line) - len(line.lstrip()) for line in lines), default=0)
    return "\n".join(line[indent:] for line in region.split("\n"))


def answer_keys(solution: nbformat.NotebookNode) -> list[Key]:
    """The key material of every graded answer check of a solution notebook."""
    names = _answer_names(solution)
    keys = []
    for grade_id, cell in graded_cells(solution).items():
        tree = _parse(cell.source)
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} if tree else set()
        if used & names:
            keys.append(_key_of(grade_id, cell.source))
    return keys


def _texts(student: nbformat.NotebookNode) -> tuple[list[str], list[str]]:
    """(code cell sources, every other text: markdown and outputs) of a notebook."""
    code, other = [], []
    for cell in student.cells:
        (code if cell.cell_type == "code" else other).append(cell.source)
        for output in cell.get("outputs", []):
            other.append(str(output.get("text", "")))
            for value in output.get("data", {}).values():
                other.append(value if isinstance(value, str) else "".join(value) if isinstance(value, list) else "")
    return code, other


def leaks(solution: nbformat.NotebookNode, student: nbformat.NotebookNode) -> list[str]:
    """Every way a key of ``solution`` can be read from ``student``, one line each."""
    names = _answer_names(solution)
    code, other = _texts(student)
    strings = []  # string constants of the code: an explanation split over lines joins up again
    for source in code:
        tree = _parse(source)
        strings += [node.value for node in ast.walk(tree) if tree and isinstance(node, ast.Constant)
                    and isinstance(node.value, str)] if tree else []
    everything = _squash("\n".join(code + other + strings))
    shown_literals: list[frozenset[str]] = []  # correct= values and comparisons with an answer
    for source in code:
        tree = _parse(source)
        for node in ast.walk(tree) if tree else []:
            if isinstance(node, ast.keyword) and node.arg == "correct":
                shown_literals.append(_picks(_constant(node.value)))
            if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.In)):
                sides = [node.left, *node.comparators]
                if any(isinstance(side, ast.Name) and side.id in names for side in sides):
                    shown_literals += [_picks(_constant(side)) for side in sides if not isinstance(side, ast.Name)]
        for match in re.finditer(r"correct\s*=\s*(\{[^}]*\}|\"[^\"]*\"|'[^']*')", source):  # unparsable cells too
            shown_literals.append(_picks(_constant(ast.parse(match.group(1), mode="eval").body)))
    for text in other:
        for match in re.finditer(r"answer is \(?([a-z])\)?|answer is \{([^}]*)\}", text):
            shown_literals.append(frozenset(pick.strip().lower() for pick in (match.group(1) or match.group(2)).split(",")))
    found = []
    for key in answer_keys(solution):
        for letters in key.letters:
            if letters in shown_literals:
                found.append(f"{key.grade_id}: its key {sorted(letters)} is in the student notebook")
        for text in dict.fromkeys(key.texts):
            if _squash(text) in everything:
                found.append(f"{key.grade_id}: its explanation is in the student notebook: {text[:60]!r}…")
        for name, value in key.pairs:
            pattern = rf"[\"']{re.escape(name)}[\"']\s*:\s*\(?\s*[\"']{re.escape(value)}[\"']"
            if any(re.search(pattern, source) for source in code + other):
                found.append(f"{key.grade_id}: its expected {name!r} -> {value!r} is in the student notebook")
    return found


def _solution(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(source_notebook(assignment, REPO), as_version=4)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_notebook_shows_no_answer_key(assignment: str) -> None:
    solution = _solution(assignment)
    found = leaks(solution, nbformat.read(student_notebook(assignment, REPO), as_version=4))
    assert found == [], (f"{assignment}: move each key and explanation inside ### BEGIN HIDDEN TESTS "
                         f"(the visible part checks only the answer's form), then regenerate course/:\n  "
                         + "\n  ".join(found))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_detector_sees_every_key_when_shown(assignment: str) -> None:
    """The check can fail: read against the solution itself (hidden tests in view), every answer
    check's key is reported, and no answer check has a key the collector cannot find."""
    solution = _solution(assignment)
    keys = answer_keys(solution)
    if not keys:
        pytest.skip(f"{assignment} has no graded answer checks")
    assert [key.grade_id for key in keys if key.empty()] == [], "answer checks whose key the collector cannot find"
    reported = {line.split(":")[0] for line in leaks(solution, solution)}
    assert reported == {key.grade_id for key in keys}, "keys the detector does not see even when they are shown"
