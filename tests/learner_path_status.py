"""Which assignments do not follow the learner-path rules yet: the one list notebook owners shrink.

The rules are in docs/instructors.md ("Writing a notebook"). A test that checks a rule for every
assignment marks the names listed here as ``xfail(strict=True)``: while the rule is broken the test
is an expected failure; once the notebook follows it the test passes, strict turns that into a
failure, and the name must be removed from its set here. So the list can only be true.

- ``run_all``: Run All on the blank student notebook reaches the last cell, with no error output
  but "not done yet" notes (tests/browser/test_run_all.py);
- ``next_link``: the notebook ends with a ``**Next:** [...](...)`` link to the next assignment
  (the last one: to ../START.ipynb) (tests/test_course_map.py).
"""

from __future__ import annotations

import pytest

NOT_YET: dict[str, set[str]] = {
    "run_all": set(),
    "next_link": set(),
}


def per_assignment(rule: str, assignments: list[str]) -> list[object]:
    """``assignments`` as pytest params, the ones that break ``rule`` marked strict xfail."""
    unknown = NOT_YET[rule] - set(assignments)
    assert not unknown, f"tests/learner_path_status.py names assignments that do not exist: {sorted(unknown)}"
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=f"{name} does not follow the "
                                                        f"{rule!r} rule yet (tests/learner_path_status.py)"))
            if name in NOT_YET[rule] else name for name in assignments]
