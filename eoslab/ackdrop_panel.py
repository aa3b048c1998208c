"""A small panel for one fault: drop a produce acknowledgement, with and without idempotence, and count.

``DroppedAckPanel(proxy)`` shows a checkbox (``enable.idempotence``), a button that sends a few
records through the fault proxy while the acknowledgement of the first produce request is dropped,
and a running tally per setting: records sent, records read back, duplicates, lost — counted by
:func:`eoslab.verify.verify` on a fresh topic each click, read straight from the broker.

Guarantees: every click is bounded (delivery waits and the read have deadlines); the fault is the
real one (:meth:`eoslab.chaos.FaultProxy.drop_responses`); each click's topic is deleted afterwards;
output goes to the panel's own ``Output`` (never stderr). ``close()`` closes the widgets; the proxy
belongs to the caller and is left running.

Not covered: other faults (network partitions, crashes) — those belong to the course's general
failure panels. The callback runs in the kernel's thread, so the notebook waits while it works (a
click takes about a second).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from .chaos import FaultProxy
from .clients import create_topics, delete_topics, make_producer, unique_name
from .verify import read_ids, record_value, verify

RECORDS_PER_CLICK = 5
DELIVERY_TIMEOUT_S = 15.0


def send_with_dropped_ack(proxy: FaultProxy, idempotent: bool, count: int = RECORDS_PER_CLICK) -> str:
    """Send ``count`` records through ``proxy`` with the first acknowledgement dropped; the verifier's line."""
    topic = create_topics([unique_name("panel-dropped-ack")])[0]
    try:
        producer = make_producer({
            "enable.idempotence": idempotent,  # the setting the learner toggles
            "acks": "all",  # the broker answers once the records are in the log: that answer is dropped
            "linger.ms": 0,  # no batching delay: the first request leaves at once
        }, bootstrap_servers=proxy.bootstrap)
        producer.list_topics(topic, timeout=10)  # connect first, so the fault hits a produce request
        proxy.drop_responses("Produce", count=1)
        for record in range(count):
            producer.produce(topic, value=record_value(record))
        left = producer.flush(DELIVERY_TIMEOUT_S)
        if left:
            return f"{left} of {count} records had no delivery report within {DELIVERY_TIMEOUT_S:.0f} s"
        return verify(range(count), read_ids(topic, "read_uncommitted")).summary()
    finally:
        delete_topics([topic])


class DroppedAckPanel:
    """Checkbox + button + log: drop an acknowledgement and see what the verifier finds."""

    def __init__(self, proxy: FaultProxy) -> None:
        self._proxy = proxy
        self._idempotent = widgets.Checkbox(value=False, description="enable.idempotence", indent=False)
        self._button = widgets.Button(description=f"Send {RECORDS_PER_CLICK}, drop the ack",
                                      button_style="warning", icon="bolt")
        self._log = widgets.Output(layout={"border": "1px solid #ccc", "min_height": "4em"})
        self._button.on_click(self.on_send_clicked)
        self._box = widgets.VBox([widgets.HBox([self._idempotent, self._button]), self._log])

    def on_send_clicked(self, _button: Any = None) -> None:
        with self._log:
            self._button.disabled = True
            try:
                self._proxy.start()  # idempotent: the notebook's proxy may have been stopped
                idempotent = bool(self._idempotent.value)
                print(f"enable.idempotence={idempotent}: {send_with_dropped_ack(self._proxy, idempotent)}")
            except Exception as error:  # noqa: BLE001 - shown in the panel, not lost in a callback
                print(f"failed: {error}")
            finally:
                self._button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self._box)

    def close(self) -> None:
        self._box.close()
        for widget in (self._idempotent, self._button, self._log):
            widget.close()
