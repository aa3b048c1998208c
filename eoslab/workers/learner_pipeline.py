"""Worker that runs a learner's exactly-once batch function under kill points (see :mod:`eoslab.workers.harness`).

Started by :func:`eoslab.workers.harness.run_under_kills` as ``python -m eoslab.workers.learner_pipeline``;
all logic lives in :func:`eoslab.workers.harness.worker_main`, this module only gives it the worker protocol
(status pipe, watchdog, SIGKILL at the kill point).
"""

from .harness import worker_main
from .protocol import run_worker

if __name__ == "__main__":
    run_worker("learner_pipeline", worker_main)
