"""What a learner finds in place of a solution: nbgrader's stub, or placeholders that let Run All go on.

nbgrader replaces every ``### BEGIN SOLUTION … ### END SOLUTION`` region with one code stub,
``# YOUR CODE HERE`` + ``raise NotImplementedError()``. Inside a function body that is right: the
function is defined, and calling it says it is not written (:mod:`eoslab.lessons.unwritten` turns
that into a "not done yet" note). In an *answer cell* (a region at the top level of a cell, such as
``loop_1_semantics = "a"``) the stub raises the moment the cell runs, and Run All stops there.

:class:`ClearSolutionsKeepingPlaceholders` (configured in ``nbgrader_config.py``) keeps nbgrader's
behaviour except for one case: a top-level region **preceded by placeholder assignments**
(``name = ...``) is replaced by a comment only, because the placeholders already are the stub. The
solution notebook then reads::

    loop_1_semantics = ...  # a letter: "a", "b", "c" or "d"
    ### BEGIN SOLUTION
    loop_1_semantics = "a"
    ### END SOLUTION

and the learner gets the first line plus ``# YOUR ANSWER HERE: replace each ... above``. Graded
cells then see ``...`` (Ellipsis) and score it zero with a note (:func:`eoslab.lessons.score_single`,
:func:`eoslab.lessons.require_answer`). A cell without placeholders is left to nbgrader, so an
assignment opts in cell by cell. Not covered: regions inside ``if``/``for`` blocks at top level
(their BEGIN line is indented, so they get nbgrader's stub).
"""

from __future__ import annotations

import re

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearSolutions
from traitlets import Unicode

PLACEHOLDER = re.compile(r"^[A-Za-z_]\w*(\s*,\s*[A-Za-z_]\w*)*\s*=\s*\.\.\.\s*(#.*)?$")


def has_placeholders(source: str, begin_delimiter: str = "BEGIN SOLUTION") -> bool:
    """True when every solution region of ``source`` is at the top level and placeholder
    assignments (``name = ...``) come before the first one."""
    lines = source.split("\n")
    begins = [index for index, line in enumerate(lines) if begin_delimiter in line]
    if not begins or any(lines[index][:1].isspace() for index in begins):
        return False
    return any(PLACEHOLDER.match(line.strip()) for line in lines[:begins[0]])


class ClearSolutionsKeepingPlaceholders(ClearSolutions):
    """nbgrader's ClearSolutions, with a comment-only stub for answer cells that define placeholders."""

    answer_stub = Unicode("# YOUR ANSWER HERE: replace each ... above",
                          help="What replaces a top-level solution region that placeholders precede").tag(config=True)

    def _replace_solution_region(self, cell: NotebookNode, language: str) -> bool:
        if cell.cell_type != "code" or not has_placeholders(cell.source, self.begin_solution_delimeter):
            return super()._replace_solution_region(cell, language)
        stubs = self.code_stub
        self.code_stub = {**stubs, language: self.answer_stub}
        try:
            return super()._replace_solution_region(cell, language)
        finally:
            self.code_stub = stubs


def generate_preprocessors() -> list[type]:
    """nbgrader 0.9's GenerateAssignment preprocessors, with ClearSolutions swapped for ours."""
    from nbgrader.converters import GenerateAssignment

    defaults = GenerateAssignment.class_traits()["preprocessors"].default()
    return [ClearSolutionsKeepingPlaceholders if step is ClearSolutions else step for step in defaults]
