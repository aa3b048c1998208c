"""One partition's replicas drawn side by side: each replica's log end, the leader, the ISR, and the
high watermark as *what every replica in the ISR has* — not the leader's log end.

    from eoslab.observe import show_replicas
    show_replicas(cluster.replica_offsets(topic, 0), badge="before the kill")

On one broker the high watermark and the log end are the same offset, which is why assignment 05
could call the high watermark "the end of the log". With replicas they part: the leader appends a
record at its log end at once, and the high watermark moves past it only when every replica in the
ISR has fetched it. A consumer reads up to the high watermark; a record past it was acknowledged
only if the producer asked for less than ``acks=all``, and it is lost if its leader dies before
the ISR has it.

The picture is HTML in the style of the partition log (:mod:`.partition`): one row per replica,
one cell per record (cells are grouped when a log is long), the cells below the high watermark
solid (every ISR replica has them), the ones past it hatched, and a green HW line across every
row. Replicas out of the ISR are greyed; ``down`` marks nodes that are not running (their log end
is read from their files). :func:`render_replicas_text` is the same for a terminal or a test.

It draws what it is given (:class:`eoslab.broker.ReplicaOffsets`); reading it is the cluster's job.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..broker import ReplicaOffsets

MAX_CELLS = 60

_CSS = """
<style>
.eos-rep{font-family:var(--jp-code-font-family,monospace);font-size:12px;color:#222;max-width:100%}
.eos-rep .row{display:flex;align-items:center;margin:9px 0 3px 0}
.eos-rep .who{width:150px;flex:none;font-size:11px}
.eos-rep .who b{font-size:12px}
.eos-rep .tag{display:inline-block;font-size:9px;font-weight:bold;padding:0 3px;border-radius:2px;margin-left:3px}
.eos-rep .tag.leader{background:#263238;color:#fff}
.eos-rep .tag.isr{background:#1565c0;color:#fff}
.eos-rep .tag.out{background:#eceff1;color:#37474f;border:1px solid #90a4ae}
.eos-rep .tag.down{background:#8b1e1e;color:#fff}
.eos-rep .cells{display:flex;gap:1px}
.eos-rep .cell{width:14px;height:22px;border:1px solid #555;border-radius:2px;box-sizing:border-box;
  font-size:8px;text-align:center;line-height:20px;overflow:hidden}
.eos-rep .cell.hw-ok{background:#b5e48c}
.eos-rep .cell.past{background:#ffb703;background-image:repeating-linear-gradient(45deg,transparent 0 4px,rgba(0,0,0,.2) 4px 6px)}
.eos-rep .cell.empty{border:1px dashed #ccc;background:#fff}
.eos-rep .row.out .cell{opacity:.55}
.eos-rep .hwline{width:0;height:26px;border-left:3px solid #2e7d32;margin:0 1px;position:relative}
.eos-rep .hwline span{position:absolute;top:-11px;left:-12px;font-size:9px;font-weight:bold;color:#2e7d32;white-space:nowrap}
.eos-rep .end{font-size:10px;margin-left:6px;white-space:nowrap}
.eos-rep .badge{display:inline-block;border-radius:3px;padding:0 5px;margin-right:6px;font-size:11px;
  background:#eceff1;color:#37474f;border:1px solid #90a4ae}
.eos-rep .legend span{display:inline-block;margin-right:10px}
.eos-rep .sw{display:inline-block;width:12px;height:12px;border:1px solid #555;vertical-align:middle;margin-right:3px}
</style>
"""


@dataclass(frozen=True)
class ReplicaPicture:
    """A drawing of :class:`~eoslab.broker.ReplicaOffsets`; shows itself in a notebook."""

    offsets: ReplicaOffsets
    title: str | None = None
    badge: str | None = None
    down: frozenset[int] = field(default_factory=frozenset)

    def _repr_html_(self) -> str:
        return render_replicas_html(self.offsets, title=self.title, badge=self.badge, down=self.down)

    def __str__(self) -> str:
        return render_replicas_text(self.offsets, down=self.down)


def replica_picture(offsets: ReplicaOffsets, *, title: str | None = None, badge: str | None = None,
                    down: Iterable[int] = ()) -> ReplicaPicture:
    return ReplicaPicture(offsets, title, badge, frozenset(down))


def show_replicas(offsets: ReplicaOffsets, *, title: str | None = None, badge: str | None = None,
                  down: Iterable[int] = ()) -> ReplicaPicture:
    """Display the picture in a notebook (and return it); prints the text elsewhere."""
    picture = replica_picture(offsets, title=title, badge=badge, down=down)
    try:
        from IPython.display import display
        display(picture)
    except ImportError:
        print(picture)
    return picture


def _replicas(offsets: ReplicaOffsets) -> list[tuple[int, int]]:
    return [(node, end) for node, end in sorted(offsets.log_end.items()) if end is not None]


def _role(node: int, offsets: ReplicaOffsets, down: frozenset[int]) -> list[str]:
    roles = []
    if node == offsets.leader:
        roles.append("leader")
    roles.append("ISR" if node in offsets.isr else "out of ISR")
    if node in down:
        roles.append("down")
    return roles


def render_replicas_text(offsets: ReplicaOffsets, *, down: Iterable[int] = ()) -> str:
    """``node 1 [leader, ISR]  log end 40  ####################~~~~~~~~~~~~~~~~~~~~`` per replica,
    ``#`` below the high watermark, ``~`` past it, and the HW line's offset."""
    down = frozenset(down)
    replicas = _replicas(offsets)
    longest = max([end for _, end in replicas] + [offsets.high_watermark or 0, 1])
    scale = max(1, math.ceil(longest / MAX_CELLS))
    hw = offsets.high_watermark
    lines = [f"{offsets.topic} [partition {offsets.partition}]: high watermark "
             f"{'none (no leader)' if hw is None else hw} = what every replica in the ISR {offsets.isr} has"]
    for node, end in replicas:
        solid = min(end, hw) if hw is not None else 0
        bar = "#" * math.ceil(solid / scale) + "~" * (math.ceil(end / scale) - math.ceil(solid / scale))
        lines.append(f"node {node} [{', '.join(_role(node, offsets, down))}]".ljust(34) + f"log end {end:>6}  {bar}")
    if scale > 1:
        lines.append(f"(one mark per {scale} records)")
    return "\n".join(lines)


def render_replicas_html(offsets: ReplicaOffsets, *, title: str | None = None, badge: str | None = None,
                         down: Iterable[int] = ()) -> str:
    """The replicas as an HTML fragment (for ``IPython.display.HTML``), with a legend."""
    down = frozenset(down)
    replicas = _replicas(offsets)
    hw = offsets.high_watermark
    longest = max([end for _, end in replicas] + [hw or 0, 1])
    scale = max(1, math.ceil(longest / MAX_CELLS))
    width = math.ceil(longest / scale)
    hw_cell = None if hw is None else math.ceil(hw / scale)
    rows = []
    for node, end in replicas:
        roles = _role(node, offsets, down)
        tags = "".join(f'<span class="tag {"leader" if r == "leader" else "isr" if r == "ISR" else "down" if r == "down" else "out"}">'
                       f'{html.escape(r)}</span>' for r in roles)
        cells = []
        for i in range(width + 1):
            if hw_cell is not None and i == hw_cell:
                cells.append('<div class="hwline" title="high watermark: every replica in the ISR has the records '
                             f'before offset {hw}"><span>HW&nbsp;{hw}</span></div>')
            if i == width:
                break
            first = i * scale
            if first >= end:
                cells.append('<div class="cell empty"></div>')
                continue
            kind = "hw-ok" if hw is not None and first < hw else "past"
            label = str(first) if scale == 1 and first % 5 == 0 else ""
            span = f"offset {first}" if scale == 1 else f"offsets {first}–{min(end, first + scale) - 1}"
            state = ("below the high watermark: in every ISR replica" if kind == "hw-ok"
                     else "past the high watermark: not in every ISR replica, a consumer does not see it")
            cells.append(f'<div class="cell {kind}" title="node {node}, {span}: {state}">{label}</div>')
        row_class = "row" if node in offsets.isr else "row out"
        rows.append(f'<div class="{row_class}"><div class="who"><b>node {node}</b>{tags}</div>'
                    f'<div class="cells">{"".join(cells)}</div><div class="end">log end {end}</div></div>')
    heading = html.escape(title or f"{offsets.topic} [partition {offsets.partition}] — replicas")
    if badge:
        heading = f'<span class="badge">{html.escape(badge)}</span>{heading}'
    hw_text = "none (no leader answers)" if hw is None else str(hw)
    summary = (f"leader {offsets.leader if offsets.leader is not None else 'none'} · ISR {offsets.isr} · "
               f"<b>high watermark {hw_text}</b>: what every replica in the ISR has, not the leader's log end")
    scale_note = f"<div><i>one cell per {scale} records</i></div>" if scale > 1 else ""
    legend = ('<div class="legend"><span><span class="sw" style="background:#b5e48c"></span>below the HW: '
              'in every ISR replica, readable</span><span><span class="sw" style="background:#ffb703"></span>'
              'past the HW: on this replica only so far (acks=1 may have acknowledged it)</span>'
              '<span><span class="sw" style="border-left:3px solid #2e7d32"></span>HW</span>'
              '<span>greyed: out of the ISR</span></div>')
    return (f'{_CSS}<div class="eos-rep"><div><b>{heading}</b> — {summary}</div>{"".join(rows)}'
            f'{scale_note}{legend}</div>')


__all__ = ["ReplicaPicture", "render_replicas_html", "render_replicas_text", "replica_picture", "show_replicas"]
