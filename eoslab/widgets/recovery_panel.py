"""Two exactly-once copiers through one broker crash: what ``metadata.recovery.strategy`` changes.

Notebook 09's demo of a hazard of the Python client itself (librdkafka 2.16). After a hard broker
restart, a transactional copier with librdkafka's default ``metadata.recovery.strategy=rebootstrap``
often waits in ``send_offsets_to_transaction()`` far past the timeout it was given: the re-bootstrap
retires the old broker handle while it is still cached as the group coordinator, and the call waits
for that dead handle (librdkafka issues 5456 and 5511). With ``none`` the client keeps its handle to
the one broker, which comes back at the same address, and the copier commits again within seconds.

:class:`RecoveryPanel` runs both side by side on the same input (each with its own group,
``transactional.id`` and output topic), offers *Crash broker (SIGKILL)* (the panel starts the broker
again on its data), and shows for each copier the transactions it committed, the call it is in,
and how long after the broker was back it committed again, or for how long it has not.

Bounded in time: the pipeline worker gives up on a transactional call that does not return within
twice its timeout (it exits and says so: ``… did not return within 40 s …``), and every worker has a
lifetime (``lifetime_s``). Only for the course's own broker: for any other, the crash button says it
is not available (:mod:`eoslab.workers.broker_faults`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..errors import EoslabError
from ..kafka import create_topics, unique_name
from ..workers import Worker, start_pipeline
from ..workers.broker_faults import crash_broker, start_broker
from ..workers.harness import produce_input
from .failure_panel import FailurePanel, make_button

STRATEGIES = ("rebootstrap", "none")  # librdkafka's default first, then the course's setting
DEFAULT_RECORDS = 3000
DEFAULT_DELAY_S = 0.05  # per record: 3000 records last ~150 s, long enough to outlast a stall
IDLE_EXIT_S = 90.0  # a copier with nothing to read for this long ends; a broker restart takes up to ~40 s


class RecoveryPanel(FailurePanel):
    """*Start both copiers* and *Crash broker*: the default recovery strategy beside ``none``."""

    check_after_kill = False  # nothing to count: the demo is about time, not copies

    def __init__(self, records: int = DEFAULT_RECORDS, process_delay_s: float = DEFAULT_DELAY_S, *,
                 lifetime_s: float = 300.0, title: str | None = None) -> None:
        super().__init__(["broker_crash"], title=title or "Two exactly-once copiers through a broker crash: "
                                                          "metadata.recovery.strategy rebootstrap (default) vs none")
        self.records, self.process_delay_s, self.lifetime_s = records, process_delay_s, lifetime_s
        self.copiers: dict[str, Worker] = {}
        self.broker_back_at: float | None = None
        self._commits_when_back: dict[str, int] = {}
        self.recovered_after_s: dict[str, float] = {}  # strategy -> seconds from broker back to a new commit
        self.start_button = make_button("Start both copiers", icon="play", button_style="primary",
                                        tooltip=f"New input ({records} records) and two copiers, one per "
                                                "metadata.recovery.strategy; then crash the broker mid-copy.")
        self.start_button.on_click(self._guarded(self.on_start_clicked))
        self.extra_controls.children = (self.start_button,)
        self._broker_line = "broker: running; start the copiers, then crash it while they copy"

    # ---- actions (also callable from code) ----------------------------------------------------

    def start_copiers(self) -> dict[str, Worker]:
        """New input and output topics and one copier per strategy (the previous pair is stopped)."""
        for worker in self.copiers.values():
            worker.close()
        run = self.start_run(f"run {self.runs_started + 1}")
        input_topic = create_topics([unique_name("recovery-in")])[0]
        produce_input(input_topic, self.records)
        self.copiers = {}
        for strategy in STRATEGIES:
            output_topic = create_topics([unique_name(f"recovery-out-{strategy}")])[0]
            self.copiers[strategy] = self.add_worker(start_pipeline(
                input_topic, output_topic, unique_name(f"recovery-{strategy}"), unique_name(f"recovery-tx-{strategy}"),
                producer_config={"metadata.recovery.strategy": strategy}, process_delay_s=self.process_delay_s,
                idle_exit_s=IDLE_EXIT_S, max_lifetime_s=self.lifetime_s,
                name=f"{strategy}{' (default)' if strategy == 'rebootstrap' else ''}, run {run}"))
        self.broker_back_at, self._commits_when_back, self.recovered_after_s = None, {}, {}
        return self.copiers

    def crash_and_restart(self) -> str:
        """SIGKILL the broker, start it again on its data (blocks until it is back, 10–40 s)."""
        self._broker_line = f"broker: {crash_broker()}; the panel is starting it again …"
        self.broker_back_at = None
        line = start_broker()
        self._commits_when_back = {name: worker.status.transactions_committed for name, worker in self.copiers.items()}
        self.broker_back_at = time.monotonic()
        self._broker_line = f"{line}; now watch which copier commits again"
        return line

    def seconds_since_back(self) -> float | None:
        return None if self.broker_back_at is None else time.monotonic() - self.broker_back_at

    # ---- callbacks ----------------------------------------------------------------------------

    def on_start_clicked(self, _button: Any = None) -> None:
        copiers = self.start_copiers()
        print(f"started: {', '.join(f'{name} (pid {worker.pid})' for name, worker in copiers.items())}; "
              f"{self.records} records each, about {self.records * self.process_delay_s:.0f} s of copying")

    def on_broker_crash_clicked(self, _button: Any = None) -> None:
        if not any(worker.alive for worker in self.copiers.values()):
            raise EoslabError("start both copiers first, then crash the broker while they copy")

        def crash() -> None:  # a thread: it only appends to the log and sets values
            try:
                self.log.append_stdout(self.crash_and_restart() + "\n")
            except (EoslabError, OSError) as error:
                self._broker_line = f"broker: {error}"
                self.log.append_stdout(self._broker_line + "\n")

        threading.Thread(target=crash, name="recovery-broker-crash", daemon=True).start()
        print("crashing the broker (SIGKILL); the panel starts it again (10–40 s) …")

    # ---- status -------------------------------------------------------------------------------

    def recovery_of(self, strategy: str) -> str:
        """Since the broker was back: committed again after how long, or for how long not yet."""
        worker = self.copiers.get(strategy)
        since = self.seconds_since_back()
        if worker is None or since is None:
            return ""
        if strategy not in self.recovered_after_s and \
                worker.status.transactions_committed > self._commits_when_back.get(strategy, 0):
            self.recovered_after_s[strategy] = since
        if strategy in self.recovered_after_s:
            return f"committed again {self.recovered_after_s[strategy]:.1f} s after the broker was back"
        where = f" (in {worker.status.step})" if worker.status.step and worker.alive else ""
        return f"no commit for {since:.0f} s since the broker was back{where}"

    def describe_worker(self, worker: Worker) -> str:
        status = worker.status
        strategy = next((name for name, copier in self.copiers.items() if copier is worker), None)
        state = "running" if worker.alive else (f"killed by {status.exit_signal}" if status.exit_signal
                                                else f"exited ({status.exit_code})")
        line = f"{state}, {status.transactions_committed} transactions committed ({status.committed} records)"
        recovery = self.recovery_of(strategy) if strategy else ""
        return f"{line}; {recovery}" if recovery else line

    def close(self) -> None:
        self.copiers = {}
        super().close()


__all__ = ["RecoveryPanel"]
