"""What a run sent and what arrived, drawn as two strips of records: duplicates and losses at a glance.

A failure panel keeps one :class:`RunPicture` per run it has counted and draws them with
:func:`render_runs`, the latest run on top. Each picture is two rows of small boxes:

- **sent**: one box per record, in the order it was sent, labelled with its position (``0``, ``1``, …);
  green when it arrived once, orange with ``×2`` when it arrived more than once, red when it never
  arrived;
- **arrived**: one box per record read back, in the order it was read; a copy of a record already
  read is orange (the duplicate itself), a record that was never sent is grey.

A heading counts the same facts in words (``sent 20 · arrived 21 · 1 duplicated · 0 lost``), so the
picture and the numbers say one thing. Plain HTML and CSS (no images, no scripts): it renders at
once in JupyterLab and stays readable in saved notebooks. Beyond :data:`LABELLED_UP_TO` records the
boxes shrink to unlabelled squares (the tooltip still names each one). Not covered: ordering within
partitions (the verifier reports it; the picture shows the read order only).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

LABELLED_UP_TO = 60
RUNS_SHOWN = 4

_CSS = """<style>
.eos-runs{font-family:var(--jp-ui-font-family,sans-serif);font-size:12px;color:#222}
.eos-run{border:1px solid #ddd;border-radius:4px;padding:4px 6px;margin:4px 0}
.eos-run.latest{border-color:#888}
.eos-run .head{margin-bottom:3px}
.eos-run .row{display:flex;flex-wrap:wrap;align-items:center;gap:2px;margin:2px 0}
.eos-run .rl{width:4.5em;color:#555}
.eos-run .b{display:inline-block;min-width:18px;height:18px;line-height:18px;padding:0 2px;box-sizing:border-box;
  text-align:center;font-size:10px;border-radius:2px;color:#111}
.eos-run .b.small{min-width:8px;width:8px;height:8px;padding:0}
.eos-run .ok{background:#b5e48c}
.eos-run .dup{background:#ffb703;font-weight:bold}
.eos-run .lost{background:#e63946;color:#fff}
.eos-run .extra{background:#bbb}
.eos-run .n-dup{color:#b26a00;font-weight:bold}
.eos-run .n-lost{color:#c1121f;font-weight:bold}
.eos-run .fine{color:#2e7d32;font-weight:bold}
</style>"""


@dataclass(frozen=True)
class RunPicture:
    """One counted run: its label, the ids sent (in order) and received (in the order read)."""

    label: str
    sent: tuple[Hashable, ...]
    received: tuple[Hashable, ...]
    note: str = ""  # e.g. "the proxy dropped 1 answer during this run"

    @property
    def duplicated(self) -> int:
        """Extra copies of sent ids (an id read three times counts two)."""
        counts = Counter(self.received)
        return sum(counts[record] - 1 for record in set(self.sent) if counts[record] > 1)

    @property
    def lost(self) -> int:
        received = set(self.received)
        return sum(1 for record in self.sent if record not in received)


def _box(css: str, label: str, title: str, small: bool) -> str:
    return (f'<span class="b {css}{" small" if small else ""}" title="{html.escape(title)}">'
            f'{"" if small else html.escape(label)}</span>')


def render_run(picture: RunPicture, latest: bool = False) -> str:
    position = {record: index for index, record in enumerate(picture.sent)}
    counts = Counter(picture.received)
    small = max(len(picture.sent), len(picture.received)) > LABELLED_UP_TO
    sent_boxes = []
    for index, record in enumerate(picture.sent):
        copies = counts.get(record, 0)
        css, label = ("lost", str(index)) if copies == 0 else ("dup", f"{index}×{copies}") if copies > 1 \
            else ("ok", str(index))
        state = "never arrived" if copies == 0 else f"arrived {copies} times" if copies > 1 else "arrived once"
        sent_boxes.append(_box(css, label, f"record {index} (id {record}): {state}", small))
    arrived_boxes, seen = [], set()
    for order, record in enumerate(picture.received):
        if record not in position:
            arrived_boxes.append(_box("extra", "?", f"read #{order}: id {record}, never sent by this run", small))
            continue
        css = "dup" if record in seen else "ok"
        seen.add(record)
        what = "a duplicate copy" if css == "dup" else "first copy"
        arrived_boxes.append(_box(css, str(position[record]), f"read #{order}: record {position[record]} "
                                                              f"(id {record}), {what}", small))
    duplicated, lost = picture.duplicated, picture.lost
    verdict = ('<span class="fine">✓ exactly once</span>'
               if not duplicated and not lost and len(picture.received) == len(picture.sent) else "")
    counts_html = (f"sent {len(picture.sent)} · arrived {len(picture.received)} · "
                   f'<span class="{"n-dup" if duplicated else ""}">{duplicated} duplicated</span> · '
                   f'<span class="{"n-lost" if lost else ""}">{lost} lost</span>')
    note = f" · {html.escape(picture.note)}" if picture.note else ""
    return (f'<div class="eos-run{" latest" if latest else ""}" data-run="{html.escape(picture.label)}">'
            f'<div class="head"><b>{html.escape(picture.label)}</b> — {counts_html} {verdict}{note}</div>'
            f'<div class="row"><span class="rl">sent</span>{"".join(sent_boxes) or "<i>nothing</i>"}</div>'
            f'<div class="row"><span class="rl">arrived</span>{"".join(arrived_boxes) or "<i>nothing</i>"}</div>'
            "</div>")


def render_runs(pictures: Sequence[RunPicture], shown: int = RUNS_SHOWN) -> str:
    """The latest ``shown`` runs, newest first, as one HTML fragment ("" when there is none yet)."""
    if not pictures:
        return ""
    newest_first = list(reversed(pictures))
    parts = [render_run(picture, latest=index == 0) for index, picture in enumerate(newest_first[:shown])]
    hidden = len(pictures) - shown
    more = f"<div style='color:#777'>… and {hidden} earlier run{'s' if hidden > 1 else ''}</div>" if hidden > 0 else ""
    return f'{_CSS}<div class="eos-runs">{"".join(parts)}{more}</div>'
