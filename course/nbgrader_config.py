"""JupyterLab serves this folder, and nbgrader's lab tools (Assignment List, Validate) read
nbgrader_config.py from the folder JupyterLab serves: forward to the course's one configuration,
at the repository root, so they use the course's id and exchange."""

import os

from eoslab.grading.course import course_root

_config = os.path.join(course_root(), "nbgrader_config.py")
exec(compile(open(_config).read(), _config, "exec"), {**globals(), "__file__": _config})
