"""One partition's log as data: records by transaction, commit/abort markers, LSO and high watermark.

What it guarantees:

- :class:`PartitionSnapshot` is a small, immutable data model of one partition's log between its
  log start offset and its high watermark: one :class:`Cell` per offset, the last stable offset
  (LSO), the high watermark, and the records each isolation level returns
  (``committed_view``, ``uncommitted_view``).
- A snapshot comes from two places. :func:`eoslab.observe.read_partition` reads it live from the
  broker (the views are then exactly what a read_committed and a read_uncommitted consumer
  returned). :func:`drawn_log` builds one by hand from records and markers, for exercises whose
  answer must not depend on the broker; its views are derived from the markers by Kafka's rules.

Kafka's rules the drawn views follow: read_uncommitted returns every data record below the high
watermark (committed, aborted and still open); read_committed returns only records below the LSO
whose transaction committed (or that were written without a transaction); control records (the
commit and abort markers) occupy an offset but are returned to neither.

What it does not cover: which producer wrote a live record. The Python client does not expose a
record's producer id, so live records are labelled with a transaction only when they carry the
:data:`TXN_HEADER` header (the course's demo producers set it), and whether a gap is a commit or an
abort marker is *inferred* (see :mod:`eoslab.observe.logreader`). Inferred cells say so (``inferred``).
:func:`render_html` draws a snapshot for JupyterLab (a self-contained HTML string with a legend, which
wraps at laptop width for 30–60 offsets; a snapshot shows itself that way in a notebook);
:func:`render_text` draws the same facts as plain text for terminals and tests. Showing a live
partition is :mod:`eoslab.observe.logview`'s job.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import EoslabError

TXN_HEADER = "txn"
"""Record header whose value names the record's transaction in the picture (e.g. ``T1``)."""

# Kinds of cell. A data record has kind RECORD; the other three are control records (markers).
RECORD = "record"
COMMIT = "commit"
ABORT = "abort"
MARKER = "marker"  # a control record whose outcome cannot be inferred (its transaction is past the LSO)

# Status of a data record, i.e. the fate of its transaction.
COMMITTED = "committed"  # committed, or written without a transaction
ABORTED = "aborted"
OPEN = "open"  # its transaction has no marker yet
PENDING = "pending"  # live only: at or after the LSO, so read_committed cannot tell its fate yet

READ_COMMITTED = "read_committed"
READ_UNCOMMITTED = "read_uncommitted"


@dataclass(frozen=True)
class Cell:
    """One offset of the partition: a data record or a control record (marker)."""

    offset: int
    kind: str  # RECORD, COMMIT, ABORT or MARKER
    txn: str | None = None  # the transaction's label; None: not transactional, or unknown
    value: str | None = None  # data records only
    status: str | None = None  # data records only: COMMITTED, ABORTED, OPEN or PENDING
    inferred: bool = False  # True when the kind (of a marker) was inferred, not observed

    @property
    def is_marker(self) -> bool:
        return self.kind != RECORD


@dataclass(frozen=True, repr=False)
class PartitionSnapshot:
    """One partition's log at one moment, and what each isolation level returns from it."""

    cells: tuple[Cell, ...]
    lso: int  # last stable offset: read_committed consumers read up to here, not beyond
    high_watermark: int  # the offset the next record will get; read_uncommitted reads up to here
    committed_view: tuple[Cell, ...]  # data records a read_committed consumer returns
    uncommitted_view: tuple[Cell, ...]  # data records a read_uncommitted consumer returns
    log_start: int = 0
    topic: str = "drawn log"
    partition: int = 0
    source: str = "drawn"  # "drawn" (built by hand) or "broker" (read live)
    notes: tuple[str, ...] = field(default=())

    def cell(self, offset: int) -> Cell:
        for cell in self.cells:
            if cell.offset == offset:
                return cell
        raise KeyError(offset)

    def offsets(self, isolation_level: str) -> list[int]:
        """Offsets of the records a consumer with this isolation.level returns, in order."""
        return [cell.offset for cell in self._view(isolation_level)]

    def values(self, isolation_level: str) -> list[str | None]:
        """Values of the records a consumer with this isolation.level returns, in order."""
        return [cell.value for cell in self._view(isolation_level)]

    def lag(self, position: int, isolation_level: str = READ_COMMITTED) -> int:
        """How many offsets a consumer at ``position`` (its next offset) may still advance.

        read_committed consumers are measured against the LSO: offsets between the LSO and the
        high watermark are not readable for them yet, so counting them would report lag that no
        amount of consuming can reduce. Offsets are not records: markers count too.
        """
        end = self.lso if isolation_level == READ_COMMITTED else self.high_watermark
        return max(0, end - position)

    def _view(self, isolation_level: str) -> tuple[Cell, ...]:
        if isolation_level == READ_COMMITTED:
            return self.committed_view
        if isolation_level == READ_UNCOMMITTED:
            return self.uncommitted_view
        raise EoslabError(f"isolation.level is {READ_COMMITTED!r} or {READ_UNCOMMITTED!r}, not {isolation_level!r}")

    def _repr_html_(self) -> str:
        return render_html(self)

    def __repr__(self) -> str:
        return (f"PartitionSnapshot({self.topic!r} [{self.partition}], {len(self.cells)} offsets, "
                f"lso={self.lso}, high_watermark={self.high_watermark}, source={self.source!r})")

    def __str__(self) -> str:
        return render_text(self)


# --- drawing a log by hand -------------------------------------------------------------------


class Drawn(NamedTuple):
    """One entry of a hand-drawn log, before offsets are assigned (see :func:`drawn_log`)."""

    kind: str
    txn: str | None
    value: str | None


def record(value: str, txn: str | None = None) -> Drawn:
    """A data record; ``txn`` names its transaction, None means written without a transaction."""
    return Drawn(RECORD, txn, value)


def commit(txn: str) -> Drawn:
    """The commit marker of transaction ``txn``."""
    return Drawn(COMMIT, txn, None)


def abort(txn: str) -> Drawn:
    """The abort marker of transaction ``txn``."""
    return Drawn(ABORT, txn, None)


def drawn_log(entries: Sequence[Drawn], *, start: int = 0, title: str = "drawn log") -> PartitionSnapshot:
    """A snapshot from records and markers in log order, offsets from ``start``; views by Kafka's rules.

    A transaction without a marker is open; the LSO is the offset of the first record of the
    earliest open transaction (the high watermark when none is open). Each label is one
    transaction: a record after its label's marker is an error (use a new label).
    """
    outcome: dict[str, str] = {}
    first_offset: dict[str, int] = {}
    for index, entry in enumerate(entries):
        offset = start + index
        if entry.kind not in (RECORD, COMMIT, ABORT):
            raise EoslabError(f"entry {index} has kind {entry.kind!r}; build entries with record(), commit(), abort()")
        if entry.txn is None:
            if entry.kind != RECORD:
                raise EoslabError(f"the marker at offset {offset} needs the label of the transaction it ends")
            continue
        if entry.txn in outcome:
            raise EoslabError(f"transaction {entry.txn} already ended before offset {offset}; "
                              "give the next transaction a new label")
        if entry.kind == RECORD:
            first_offset.setdefault(entry.txn, offset)
        else:
            if entry.txn not in first_offset:
                raise EoslabError(f"the marker at offset {offset} ends {entry.txn}, which has no records before it")
            outcome[entry.txn] = entry.kind
    high_watermark = start + len(entries)
    open_starts = [first for txn, first in first_offset.items() if txn not in outcome]
    lso = min(open_starts, default=high_watermark)

    status_of = {COMMIT: COMMITTED, ABORT: ABORTED}
    cells = tuple(
        Cell(start + index, entry.kind, entry.txn, entry.value,
             (COMMITTED if entry.txn is None else status_of.get(outcome.get(entry.txn, ""), OPEN))
             if entry.kind == RECORD else None)
        for index, entry in enumerate(entries))
    records = [cell for cell in cells if cell.kind == RECORD]
    return PartitionSnapshot(
        cells=cells, lso=lso, high_watermark=high_watermark,
        committed_view=tuple(cell for cell in records if cell.status == COMMITTED and cell.offset < lso),
        uncommitted_view=tuple(records),
        log_start=start, topic=title, source="drawn")


# --- plain text ------------------------------------------------------------------------------


def _describe(cell: Cell) -> str:
    if cell.kind == RECORD:
        txn = cell.txn or "-"
        return f"record  {txn:<6} {cell.status or '':<10} {cell.value!r}"
    label = {COMMIT: "COMMIT marker", ABORT: "ABORT marker", MARKER: "marker (outcome unknown)"}[cell.kind]
    text = f"{label} of {cell.txn}" if cell.txn else label
    return text + (" (inferred)" if cell.inferred else "")


def render_text(snapshot: PartitionSnapshot) -> str:
    """The snapshot as plain text: one line per offset, which levels return it, LSO and HW marked."""
    committed = {cell.offset for cell in snapshot.committed_view}
    uncommitted = {cell.offset for cell in snapshot.uncommitted_view}
    lines = [f"{snapshot.topic} [{snapshot.partition}]  log start {snapshot.log_start}  "
             f"LSO {snapshot.lso}  high watermark {snapshot.high_watermark}  ({snapshot.source})",
             "offset  RU RC  content"]
    for cell in snapshot.cells:
        seen_by = ("RU" if cell.offset in uncommitted else "  ") + " " + ("RC" if cell.offset in committed else "  ")
        mark = "   <- LSO" if cell.offset == snapshot.lso else ""
        lines.append(f"{cell.offset:>6}  {seen_by}  {_describe(cell)}{mark}")
    end_marks = [name for name, at in (("LSO", snapshot.lso), ("high watermark", snapshot.high_watermark))
                 if at == snapshot.high_watermark]
    lines.append(f"{snapshot.high_watermark:>6}  (next offset)     <- {' = '.join(end_marks)}")
    lines.append("read_uncommitted returns offsets " + _offsets_text(snapshot.offsets(READ_UNCOMMITTED)))
    lines.append("read_committed   returns offsets " + _offsets_text(snapshot.offsets(READ_COMMITTED)))
    lines.extend(f"note: {note}" for note in snapshot.notes)
    return "\n".join(lines)


def _offsets_text(offsets: Iterable[int]) -> str:
    listed = " ".join(str(offset) for offset in offsets)
    return listed or "(none)"


# --- HTML ------------------------------------------------------------------------------------

_PALETTE = ("#8ecae6", "#ffb703", "#b5e48c", "#cdb4db", "#f4a261", "#90e0ef", "#ffc8dd", "#e9c46a")
_PLAIN_COLOUR = "#e5e5e5"
_CSS = """
<style>
.eos-log{font-family:var(--jp-code-font-family,monospace);font-size:12px;color:#222;max-width:100%}
.eos-log .cells{display:flex;flex-wrap:wrap;gap:3px;margin:6px 0}
.eos-log .cell{position:relative;min-width:68px;max-width:150px;min-height:54px;border:2px solid #555;
  border-radius:4px;padding:14px 3px 2px 3px;box-sizing:border-box;text-align:center;display:flex;
  flex-direction:column;align-items:center}
.eos-log .off{position:absolute;top:1px;left:3px;font-size:10px;color:#333}
.eos-log .val{font-weight:bold;font-size:11px;overflow-wrap:anywhere}
.eos-log .txn{font-size:10px}
.eos-log .aborted{opacity:.55;background-image:repeating-linear-gradient(45deg,transparent 0 5px,rgba(0,0,0,.18) 5px 7px)}
.eos-log .aborted .val{text-decoration:line-through}
.eos-log .open{border-style:dashed}
.eos-log .pending{border-style:dotted}
.eos-log .marker{background:#263238;color:#fff;border-color:#263238}
.eos-log .marker .off{color:#ddd}
.eos-log .marker.abort{background:#8b1e1e;border-color:#8b1e1e}
.eos-log .marker.unknown{background:#666;border-color:#666}
.eos-log .next{border:2px dashed #aaa;color:#777;background:#fff}
.eos-log .flags{display:flex;gap:2px;justify-content:center;margin-top:auto;padding-top:2px}
.eos-log .flag{font-size:9px;font-weight:bold;padding:0 2px;border-radius:2px}
.eos-log .flag.lso{background:#1565c0;color:#fff}
.eos-log .flag.hw{background:#2e7d32;color:#fff}
.eos-log .seen{font-size:9px;color:#333}
.eos-log table.views{border-collapse:collapse;margin-top:4px}
.eos-log table.views td{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
.eos-log .chip{display:inline-block;border:1px solid #888;border-radius:3px;padding:0 3px;margin:1px}
.eos-log .legend span{display:inline-block;margin-right:10px}
.eos-log .sw{display:inline-block;width:14px;height:12px;border:2px solid #555;vertical-align:middle;margin-right:3px}
.eos-log .badge{display:inline-block;border-radius:3px;padding:0 5px;margin-right:6px;font-size:11px}
.eos-log .badge.live{background:#2e7d32;color:#fff}
.eos-log .badge.snapshot{background:#eceff1;color:#37474f;border:1px solid #90a4ae}
</style>
"""


def _colours(snapshot: PartitionSnapshot) -> dict[str | None, str]:
    labels = sorted({cell.txn for cell in snapshot.cells if cell.txn is not None})
    colours: dict[str | None, str] = {label: _PALETTE[i % len(_PALETTE)] for i, label in enumerate(labels)}
    colours[None] = _PLAIN_COLOUR
    return colours


def _cell_html(cell: Cell, snapshot: PartitionSnapshot, colours: dict[str | None, str],
               show_views: bool) -> str:
    flags = ""
    if cell.offset == snapshot.lso:
        flags = '<div class="flags"><span class="flag lso" title="last stable offset">LSO</span></div>'
    offset = f'<span class="off">{cell.offset}</span>'
    if cell.kind == RECORD:
        classes = f"cell {cell.status or ''}"
        seen = ""
        if show_views:
            committed = any(c.offset == cell.offset for c in snapshot.committed_view)
            uncommitted = any(c.offset == cell.offset for c in snapshot.uncommitted_view)
            seen = f'<div class="seen">{"RU" if uncommitted else "··"} {"RC" if committed else "··"}</div>'
        title = f"offset {cell.offset}: {cell.status} record of {cell.txn or 'no transaction'}"
        return (f'<div class="{classes}" style="background-color:{colours[cell.txn]}" title="{html.escape(title)}">'
                f'{offset}<div class="val">{html.escape(str(cell.value))}</div>'
                f'<div class="txn">{html.escape(cell.txn or "–")}</div>{seen}{flags}</div>')
    name = {COMMIT: "COMMIT", ABORT: "ABORT", MARKER: "MARKER"}[cell.kind]
    extra = {COMMIT: "", ABORT: " abort", MARKER: " unknown"}[cell.kind]
    question = "?" if cell.inferred else ""
    title = f"offset {cell.offset}: {name.lower()} marker" + (" (inferred from what read_committed returned)"
                                                             if cell.inferred else "")
    return (f'<div class="cell marker{extra}" title="{html.escape(title)}">{offset}'
            f'<div class="val">{name}{question}</div><div class="txn">{html.escape(cell.txn or "")}</div>{flags}</div>')


def _chips(cells: Iterable[Cell]) -> str:
    chips = "".join(f'<span class="chip">{cell.offset}: {html.escape(str(cell.value))}</span>' for cell in cells)
    return chips or "<i>nothing</i>"


def _legend(snapshot: PartitionSnapshot, colours: dict[str | None, str]) -> str:
    swatches = "".join(f'<span><span class="sw" style="background:{colour}"></span>{html.escape(label)}</span>'
                       for label, colour in colours.items() if label is not None)
    return (
        '<div class="legend">'
        f'{swatches}<span><span class="sw" style="background:{_PLAIN_COLOUR}"></span>no transaction / unknown</span>'
        '<span><span class="sw" style="background:#ddd"></span>solid: committed</span>'
        '<span><span class="sw aborted" style="background:#ddd;opacity:.55"></span>hatched: aborted</span>'
        '<span><span class="sw" style="border-style:dashed"></span>dashed: open</span>'
        + ('<span><span class="sw" style="border-style:dotted"></span>dotted: past the LSO, fate unknown</span>'
           if snapshot.source == "broker" else "")
        + '<span><span class="sw" style="background:#263238"></span>commit marker</span>'
        '<span><span class="sw" style="background:#8b1e1e"></span>abort marker</span>'
        '<span>? = inferred</span><span>RU/RC = returned to read_uncommitted / read_committed</span>'
        '</div>')


def render_html(snapshot: PartitionSnapshot, *, show_views: bool = True, title: str | None = None,
                badge: str | None = None, live: bool = False) -> str:
    """The snapshot as an HTML fragment (for ``IPython.display.HTML``), with a legend.

    ``show_views=False`` hides what each isolation level returns, for exercises that ask it.
    ``badge`` labels the picture before its title, e.g. ``"snapshot · after T3 opened"``; ``live=True``
    draws it as a live view's badge (green) instead of a snapshot's (grey).
    """
    colours = _colours(snapshot)
    cells = "".join(_cell_html(cell, snapshot, colours, show_views) for cell in snapshot.cells)
    end_flags = '<span class="flag hw" title="high watermark">HW</span>'
    if snapshot.lso == snapshot.high_watermark:
        end_flags = '<span class="flag lso" title="last stable offset">LSO</span>' + end_flags
    cells += (f'<div class="cell next" title="high watermark: the next record gets this offset">'
              f'<span class="off">{snapshot.high_watermark}</span><div class="val">next</div>'
              f'<div class="flags">{end_flags}</div></div>')
    heading = html.escape(title or f"{snapshot.topic} [partition {snapshot.partition}]")
    if badge:
        kind = "live" if live else "snapshot"
        heading = f'<span class="badge {kind}">{html.escape(badge)}</span>{heading}'
    summary = (f"log start {snapshot.log_start} · <b>LSO {snapshot.lso}</b> · "
               f"<b>high watermark {snapshot.high_watermark}</b> · {snapshot.source}")
    views = ""
    if show_views:
        views = (
            '<table class="views"><tr><td><b>read_uncommitted</b> returns '
            f'({len(snapshot.uncommitted_view)}, reads up to the high watermark)</td>'
            f'<td><b>read_committed</b> returns ({len(snapshot.committed_view)}, reads up to the LSO)</td></tr>'
            f'<tr><td>{_chips(snapshot.uncommitted_view)}</td><td>{_chips(snapshot.committed_view)}</td></tr></table>')
    notes = "".join(f"<div><i>{html.escape(note)}</i></div>" for note in snapshot.notes)
    return (f'{_CSS}<div class="eos-log"><div><b>{heading}</b> — {summary}</div>'
            f'<div class="cells">{cells}</div>{views}{notes}{_legend(snapshot, colours)}</div>')
