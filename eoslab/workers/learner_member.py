"""Worker that runs a learner's group member (see :mod:`eoslab.workers.member_harness`).

Started by :func:`eoslab.workers.member_harness.run_members` as ``python -m eoslab.workers.learner_member``;
all logic lives in :func:`eoslab.workers.member_harness.member_main`, this module only gives it the
worker protocol (status pipe, watchdog, SIGKILL at the kill point). A spec with ``"revocation"``
comes from :func:`eoslab.workers.revocation_check.revoke_with_open_transaction`: the same member,
with that check's holds around its clients (:func:`eoslab.workers.revocation_check.revocation_member_main`).
"""

from typing import Any

from .member_harness import member_main
from .protocol import run_worker
from .revocation_check import revocation_member_main


def _main(spec: dict[str, Any], reporter: Any) -> None:
    (revocation_member_main if spec.get("revocation") else member_main)(spec, reporter)


if __name__ == "__main__":
    run_worker("learner_member", _main)
