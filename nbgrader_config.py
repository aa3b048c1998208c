"""nbgrader's configuration for the course: this repository is the course directory.

nbgrader reads this file only from the current directory, so run its command line from the repo
root; `eoslab instructor …` and `eoslab grade …` load it explicitly (eoslab/grading/config.py) and
work from anywhere. Layout:

- ``solutions/NN-slug/NN-slug.ipynb``  the instructor source (solutions, hidden tests)
- ``course/NN-slug/NN-slug.ipynb``     the generated student version (committed)
- ``.nbgrader/``                       gradebook, submitted/autograded/feedback trees, the local
                                       exchange: git-ignored, never committed
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

ROOT = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(ROOT, ".nbgrader")
os.makedirs(WORK, exist_ok=True)  # SQLite creates the gradebook file, not its folder (fresh clone)

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "eoslab-exactly-once"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.submitted_directory = os.path.join(".nbgrader", "submitted")
c.CourseDirectory.autograded_directory = os.path.join(".nbgrader", "autograded")
c.CourseDirectory.feedback_directory = os.path.join(".nbgrader", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(WORK, "gradebook.db")

# The exchange a class shares (release, fetch, submit, collect). A lone learner needs none; a
# JupyterHub class points EOSLAB_EXCHANGE at a shared directory such as /srv/nbgrader/exchange.
c.Exchange.root = os.environ.get("EOSLAB_EXCHANGE", os.path.join(WORK, "exchange"))
try:
    os.makedirs(c.Exchange.root, exist_ok=True)  # the Assignment List reports an error if it is missing
except OSError:
    pass  # a shared class exchange is the administrator's to create

# Kafka cells wait on a real broker (topic creation, transactions, timeouts they demonstrate on
# purpose), so a cell may take a while; 120 s is far above any cell of a correct solution.
c.Execute.timeout = int(os.environ.get("EOSLAB_CELL_TIMEOUT", "120"))
# A learner's infinite loop must cost that exercise only: interrupt the kernel at the timeout,
# record a CellTimeoutError in that cell, and go on grading the rest of the notebook.
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False  # a quiet cell is not an error; only the reply timeout counts
c.Execute.error_on_timeout = {
    "ename": "CellTimeoutError",
    "evalue": "the cell ran longer than the time limit and was interrupted (an endless loop or a wait without a deadline?)",
    "traceback": ["CellTimeoutError: the cell ran longer than the time limit and was interrupted"],
}

# What a learner sees in place of a solution: nbgrader's stub, except in answer cells that define
# placeholders (`answer = ...`), which get a comment only so Run All goes on (eoslab/grading/stubs.py).
from eoslab.grading.stubs import generate_preprocessors  # noqa: E402

c.GenerateAssignment.preprocessors = generate_preprocessors()
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Feedback a class releases to learners shows no hidden test and no traceback that quotes one
# (eoslab/grading/classfeedback.py); the autograded notebooks keep everything for the instructor.
from eoslab.grading.classfeedback import feedback_preprocessors  # noqa: E402

c.GenerateFeedback.preprocessors = feedback_preprocessors()

# Code cells tagged `demo` (a panel, a picture, a fault shown both ways) are not run when grading
# (eoslab/grading/demos.py, which also holds the check that no graded cell needs one).
from eoslab.grading.demos import autograde_preprocessors  # noqa: E402

c.Autograde.autograde_preprocessors = autograde_preprocessors()
