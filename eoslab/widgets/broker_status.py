"""A small panel for notebook 00: which broker, does it answer, which version, does the course run it.

It checks once when shown and again on "Check again" (a metadata request with a deadline); it never
polls. For a broker the course does not run, the version is reported as unknown and broker-crash
demos are said to be unavailable.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from ..broker import KAFKA_VERSION
from ..broker.readiness import answers_metadata
from ..errors import EoslabError
from ..kafka.connect import configured_bootstrap, controlled_broker

CHECK_TIMEOUT_S = 5.0


class BrokerStatusPanel:
    """Broker address, reachable, version, controlled by the course or not."""

    def __init__(self, bootstrap: str | None = None) -> None:
        from ..broker import EmbeddedBroker

        self.bootstrap = bootstrap or configured_bootstrap() or EmbeddedBroker().bootstrap
        self.status = widgets.HTML()
        self.check_button = widgets.Button(description="Check again", layout=widgets.Layout(width="auto"))
        self.log = widgets.Output()
        self.check_button.on_click(self.log.capture(clear_output=True)(self.on_check_clicked))
        self._box = widgets.VBox([widgets.HTML("<b>Kafka broker</b>"), self.status, self.check_button, self.log])
        self._closed = False
        self.facts: dict[str, Any] = {}
        self.on_check_clicked()

    def on_check_clicked(self, _button: Any = None) -> None:
        try:
            reachable = answers_metadata(self.bootstrap, CHECK_TIMEOUT_S)
            broker = controlled_broker()
        except EoslabError as error:
            print(str(error))
            return
        controlled = broker is not None and broker.bootstrap == self.bootstrap
        self.facts = {"address": self.bootstrap, "reachable": reachable, "controlled": controlled,
                      "version": f"Apache Kafka {KAFKA_VERSION}" if controlled else "unknown (not the course's broker)"}
        self.status.value = "<pre style='margin:0'>" + html.escape(self.status_text) + "</pre>"

    @property
    def status_text(self) -> str:
        facts = self.facts
        return (f"address: {facts['address']}\n"
                f"reachable: {'yes' if facts['reachable'] else 'no — start it with `eoslab broker start`'}\n"
                f"version: {facts['version']}\n"
                f"controlled by the course: {'yes (broker-crash demos work)' if facts['controlled'] else 'no'}")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._box)

    def close(self) -> None:
        """Close the widgets (nothing runs in the background). Idempotent."""
        if not self._closed:
            self._closed = True
            self._box.close()
