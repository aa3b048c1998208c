"""A blank exercise says "not done yet" instead of raising, and a graded cell still scores it zero.

The mechanism (eoslab/lessons/unwritten.py, eoslab/grading/stubs.py) is checked here without a
broker: in a real IPython kernel (nbclient, as nbgrader and nbval run notebooks) a blank notebook
runs to its last cell with notes, nbgrader's own scoring rule gives its graded cells zero, and a
written answer is untouched by the guard. The course's notebooks are checked end to end by
tests/test_grading_integrity.py (zero for the blank, full marks for the solution) and the browser
tests (Run All reaches the last cell).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.utils import determine_grade

from eoslab.grading.stubs import ClearSolutionsKeepingPlaceholders, has_placeholders
from eoslab.lessons import (NOT_DONE_YET, NotDoneYet, is_written, newest_definition, require_answer, score_multi,
                            score_single, when_written)

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def test_a_stub_in_a_check_cell_prints_a_note_naming_the_function(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {"__name__": "__main__", "when_written": when_written}
    exec("def produce_values(topic, values):\n    raise NotImplementedError()\n"
         "with when_written():\n    produce_values('t', ['a'])\n", namespace)
    out, err = capsys.readouterr()
    assert out.startswith(f"{NOT_DONE_YET} — write produce_values() first"), out
    assert err == ""


def test_a_graded_guard_writes_the_note_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with when_written(graded=True, hint="Exercise 2"):
        raise NotImplementedError()
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"{NOT_DONE_YET} — finish the exercise above (Exercise 2) first")
    assert "scores 0" in err


@pytest.mark.parametrize("error", [NotImplementedError("a library says: not supported"), AssertionError("wrong"),
                                   TypeError("bad")])
def test_real_errors_pass_through_the_guard(error: Exception) -> None:
    with pytest.raises(type(error)):
        with when_written():
            raise error


def test_placeholders_are_refused_and_scored_zero_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NotDoneYet, match="answer predictions"):
        require_answer("predictions", ...)
    assert require_answer("predictions", {"a": 1}) == {"a": 1}
    assert score_single(..., correct="b") == 0.0
    assert score_multi(..., correct={"a", "b"}) == 0.0
    assert capsys.readouterr().out.count(NOT_DONE_YET) == 2
    assert score_single("b", correct="b") == 1.0  # a real answer is scored as before


def test_is_written_tells_the_stub_from_an_answer(tmp_path: Path) -> None:
    module = tmp_path / "learner_stub.py"  # a file, so inspect finds the source as it does for a cell
    module.write_text('def stub(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n')
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    assert not is_written(namespace["stub"])  # type: ignore[arg-type]

    def answer(x: int) -> int:
        if x < 0:
            raise NotImplementedError()
        return x

    assert is_written(answer)


def test_newest_definition_finds_the_function_the_notebook_defines_now() -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec("def f():\n    return 1\n", namespace)
    old = namespace["f"]
    exec("def f():\n    return 2\n", namespace)
    assert newest_definition(old)() == 2  # type: ignore[arg-type, operator]


@pytest.mark.parametrize(("source", "expected"), [
    ('x = ...  # a letter\n### BEGIN SOLUTION\nx = "a"\n### END SOLUTION', True),
    ('a, b = ...\n### BEGIN SOLUTION\na, b = 1, 2\n### END SOLUTION', True),
    ('### BEGIN SOLUTION\nx = "a"\n### END SOLUTION', False),  # no placeholders: nbgrader's stub
    ('x = ...\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION', False),  # a function body
])
def test_only_top_level_regions_after_placeholders_get_the_comment_stub(source: str, expected: bool) -> None:
    assert has_placeholders(source) is expected


def _blank_notebook() -> nbformat.NotebookNode:
    """A tiny assignment as the course writes one, after ClearSolutionsKeepingPlaceholders."""
    solution = [
        new_code_cell("from eoslab.lessons import score_single, when_written"),
        new_code_cell('def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION',
                      metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "double",
                                             "locked": False, "schema_version": 3, "task": False}}),
        new_code_cell("# Check it yourself\nwith when_written():\n    print(double(2))"),
        new_code_cell('"""double doubles."""\nwith when_written(graded=True):\n    assert double(3) == 6',
                      metadata={"nbgrader": {"grade": True, "grade_id": "double_works", "points": 1, "locked": True,
                                             "solution": False, "schema_version": 3, "task": False}}),
        new_code_cell('answer = ...  # a letter\n### BEGIN SOLUTION\nanswer = "b"\n### END SOLUTION',
                      metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "answers",
                                             "locked": False, "schema_version": 3, "task": False}}),
        new_code_cell('score_single(answer, correct="b")',
                      metadata={"nbgrader": {"grade": True, "grade_id": "answer_right", "points": 1, "locked": True,
                                             "solution": False, "schema_version": 3, "task": False}}),
        new_code_cell('print("the last cell ran")'),
    ]
    notebook = new_notebook(cells=solution, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                     "display_name": "Python 3"}})
    clear = ClearSolutionsKeepingPlaceholders(code_stub={"python": STUB})
    blank, _ = clear.preprocess(notebook, {})
    return blank


def test_a_blank_notebook_runs_to_its_end_and_its_graded_cells_score_zero() -> None:
    blank = _blank_notebook()
    assert blank.cells[4].source == 'answer = ...  # a letter\n# YOUR ANSWER HERE: replace each ... above'
    assert "raise NotImplementedError()" in blank.cells[1].source  # a function body keeps nbgrader's stub
    NotebookClient(blank, timeout=60, kernel_name="python3").execute()  # raises on the first error output
    assert blank.cells[-1].outputs[0].text == "the last cell ran\n"
    assert NOT_DONE_YET in blank.cells[2].outputs[0].text
    for cell in blank.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert determine_grade(cell)[0] == 0, cell.outputs  # nbgrader's own rule


def test_a_written_notebook_earns_its_points_through_the_guard() -> None:
    written = _blank_notebook()
    written.cells[1].source = "def double(x):\n    return 2 * x"
    written.cells[4].source = 'answer = "b"'
    NotebookClient(written, timeout=60, kernel_name="python3").execute()
    for cell in written.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert determine_grade(cell)[0] == 1, cell.outputs
