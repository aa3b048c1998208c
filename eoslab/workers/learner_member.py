"""Worker that runs a learner's group member (see :mod:`eoslab.workers.member_harness`).

Started by :func:`eoslab.workers.member_harness.run_members` as ``python -m eoslab.workers.learner_member``;
all logic lives in :func:`eoslab.workers.member_harness.member_main`, this module only gives it the
worker protocol (status pipe, watchdog, SIGKILL at the kill point).
"""

from .member_harness import member_main
from .protocol import run_worker

if __name__ == "__main__":
    run_worker("learner_member", member_main)
