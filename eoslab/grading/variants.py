"""Notebooks with answers swapped in, for proving that a grader can fail: wrong answers, endless loops.

Wrong answers live as data in ``tests/wrong_answers/NN-slug.json`` (format in the notebook
conventions): each replaces one answer cell of the STUDENT version and names the graded cells that
must then score below full marks. Wrong answers for different answer cells do not interfere (each
graded test cell exercises its own answer), so :func:`rounds` packs them into as few notebooks as
possible: one per round, at most one wrong answer per answer cell in a round.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..errors import EoslabError

WRONG_ANSWERS_DIR = Path("tests") / "wrong_answers"
_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")


@dataclass(frozen=True)
class WrongAnswer:
    answer_cell: str
    why: str
    loses_points_in: tuple[str, ...]
    source: str


def load_wrong_answers(root: Path, assignment: str) -> list[WrongAnswer]:
    path = root / WRONG_ANSWERS_DIR / f"{assignment}.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [WrongAnswer(item["answer_cell"], item["why"], tuple(item["loses_points_in"]), item["source"])
            for item in data["wrong_answers"]]


def load_correct_alternatives(root: Path, assignment: str) -> list[WrongAnswer]:
    """The other right answers (synonyms, other loop shapes, other SQL forms) that must earn full marks.

    Same format as a wrong answer, in the file's ``correct_alternatives`` list. Swapped into the
    reference solution, an alternative must leave every graded cell at full marks; the optional
    ``earns_full_marks_in`` (returned as ``loses_points_in``) names the cells that exercise it.
    """
    path = root / WRONG_ANSWERS_DIR / f"{assignment}.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [WrongAnswer(item["answer_cell"], item["why"], tuple(item.get("earns_full_marks_in", ())), item["source"])
            for item in data.get("correct_alternatives", [])]


def rounds(wrong_answers: list[WrongAnswer]) -> list[list[WrongAnswer]]:
    """Group wrong answers so that no round replaces the same answer cell twice."""
    grouped: list[list[WrongAnswer]] = []
    for wrong in wrong_answers:
        for group in grouped:
            if all(other.answer_cell != wrong.answer_cell for other in group):
                group.append(wrong)
                break
        else:
            grouped.append([wrong])
    return grouped


def answer_cells(notebook: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("solution") and not cell.metadata["nbgrader"].get("grade")}


def graded_cells(notebook: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("grade")}


def with_answers(notebook: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose answer cells named in ``answers`` hold the given sources."""
    changed = copy.deepcopy(notebook)
    cells = answer_cells(changed)
    unknown = sorted(set(answers) - set(cells))
    if unknown:
        raise EoslabError(f"no answer cells {unknown} in the notebook; answer cells are {sorted(cells)}")
    for grade_id, source in answers.items():
        cells[grade_id].source = source
    return changed


def with_endless_loop(solution: nbformat.NotebookNode, answer_id: str) -> nbformat.NotebookNode:
    """The solution with ``while True: pass`` as the first statement of one answer's solution."""
    cell = answer_cells(solution).get(answer_id)
    if cell is None:
        raise EoslabError(f"no answer cell {answer_id!r} in the solution notebook")
    lines = cell.source.splitlines()
    for index, line in enumerate(lines):
        match = _BEGIN.match(line)
        if match:
            following = next((text for text in lines[index + 1:] if text.strip()), match.group(1))
            indent = following[: len(following) - len(following.lstrip())]
            lines[index + 1:index + 1] = [f"{indent}while True:  # an endless loop, on purpose", f"{indent}    pass"]
            break
    else:
        raise EoslabError(f"answer cell {answer_id!r} has no '### BEGIN SOLUTION' line")
    return with_answers(solution, {answer_id: "\n".join(lines)})
