"""See what Kafka did: client statistics, a partition's log drawn, stored batches, transactions, throughput.

    from eoslab.observe import StatsRecorder, read_partition, show
    show(read_partition(topic))        # records, commit/abort markers, LSO and high watermark

- :mod:`.stats` — librdkafka's statistics parsed (:class:`StatsRecorder`, :func:`summarise`);
  :mod:`.dashboard` — a live dashboard over them with alert rules (:class:`StatsDashboard`: labelled
  live or stopped, ``snapshot_of(step)``);
- :mod:`.partition` — one partition's log as data and as a picture (:func:`drawn_log`,
  :func:`render_html`); :mod:`.logreader` — :func:`read_partition`, the same read live;
  :mod:`.logview` — :func:`show` (a snapshot labelled with its step) and the live :class:`LogView`
  widget (labelled live, its own refresh, ``snapshot_of(step)``);
- :mod:`.replicas` — one partition's replicas side by side (:func:`show_replicas`, :class:`ReplicaPicture`):
  each replica's log end, leader and ISR marked, and the high watermark as what the ISR has;
- :mod:`.batchlog` — the record batches the broker stored, read from its segment files
  (:func:`stored_batches`: producer id, epoch, base sequence);
- :mod:`.debuglog` — one client's librdkafka debug log kept in memory (:class:`DebugLog`), to print
  the lines that show what the client did (03: the epoch bump after a timeout);
- :mod:`.elapsed` — :func:`progress_while`, a bar that fills with the time a silent call takes;
- :mod:`.txntool` — Kafka's own kafka-transactions tool (open transactions, hanging ones);
- :mod:`.throughput` — each delivery mode measured on this machine; :mod:`.benchreport` — its
  tables and charts.
"""

from . import benchreport, txntool
from .batchlog import stored_batches
from .debuglog import DebugLog
from .elapsed import progress_while
from .dashboard import StatsDashboard, open_too_long, wait_until
from .logreader import read_partition
from .logview import LogView, show
from .replicas import ReplicaPicture, render_replicas_html, render_replicas_text, replica_picture, show_replicas
from .partition import TXN_HEADER, PartitionSnapshot, abort, commit, drawn_log, record, render_html, render_text
from .stats import PartitionStats, StatsRecorder, StatsSnapshot, epoch_bumps, parse_statistics, summarise
from .throughput import DELIVERY_MODES, measure_latency, mode_named, produce_rounds

__all__ = ["DELIVERY_MODES", "TXN_HEADER", "DebugLog", "LogView", "PartitionSnapshot", "PartitionStats", "ReplicaPicture", "StatsDashboard",
           "StatsRecorder", "StatsSnapshot", "abort", "benchreport", "commit", "drawn_log", "epoch_bumps", "progress_while",
           "measure_latency", "mode_named", "open_too_long", "parse_statistics", "produce_rounds", "read_partition",
           "record", "render_html", "render_replicas_html", "render_replicas_text", "render_text", "replica_picture",
           "show_replicas", "show", "stored_batches", "summarise", "txntool", "wait_until"]
