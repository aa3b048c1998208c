"""docs/claims.md stays true to the notebooks: every demonstrating cell it names still exists.

docs/claims.md lists the facts about Kafka and librdkafka the course states that a reader could
doubt (defaults, error classes, protocol versions, timeouts), one table row each:
``| N | claim | source | shown live in |``. The last column names the code cells of
``solutions/NN-slug/NN-slug.ipynb`` (by nbformat cell id, `` `NN-slug#cell-id` ``; a following
`` `#other-id` `` means the same notebook) that show the claim live, with an optional note, or
starts with — (not shown live; the note may say why). Renaming,
deleting or turning such a cell into Markdown breaks this test, so the list cannot quietly rot.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
CLAIMS = REPO / "docs" / "claims.md"
ROW = re.compile(r"^\|\s*(\d+)\s*\|(.+)\|(.+)\|\s*(.+?)\s*\|\s*$")
CELL_REF = re.compile(r"`(\d\d-[a-z0-9-]+)?#([A-Za-z0-9_-]+)`")


def claim_rows() -> list[tuple[int, str, str, str]]:
    rows = []
    for line in CLAIMS.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            number, claim, source, where = match.groups()
            rows.append((int(number), claim.strip(), source.strip(), where.strip()))
    return rows


def test_the_claims_list_is_substantial_numbered_and_sourced() -> None:
    rows = claim_rows()
    assert len(rows) >= 20, f"docs/claims.md lists {len(rows)} claims; the course states far more"
    numbers = [number for number, *_ in rows]
    assert numbers == list(range(1, len(rows) + 1)), "claims are numbered 1, 2, 3 … in order"
    unsourced = [number for number, _, source, _ in rows if len(source) < 4 or source in ("—", "-")]
    assert not unsourced, f"claims without a source: {unsourced}"
    for number, _, _, where in rows:
        assert where.startswith(("—", "-")) or CELL_REF.search(where), \
            f"claim {number}: {where!r} names no `NN-slug#cell-id` and does not start with —"


def cell_refs(where: str) -> list[tuple[str, str]]:
    """The (assignment, cell id) pairs a 'shown live in' entry names; `#id` reuses the notebook before it."""
    refs, assignment = [], None
    for named, cell_id in CELL_REF.findall(where):
        assignment = named or assignment
        assert assignment, f"{where!r}: `#{cell_id}` without a notebook before it"
        refs.append((assignment, cell_id))
    return refs


def _demonstrations() -> list[tuple[int, str, str]]:
    return [(number, assignment, cell_id) for number, _, _, where in claim_rows()
            if not where.startswith(("—", "-")) for assignment, cell_id in cell_refs(where)]


@pytest.mark.parametrize(("number", "assignment", "cell_id"), _demonstrations())
def test_each_demonstrating_cell_still_exists_as_code(number: int, assignment: str, cell_id: str) -> None:
    path = REPO / "solutions" / assignment / f"{assignment}.ipynb"
    assert path.is_file(), f"claim {number}: {assignment} has no notebook in solutions/"
    cells = {cell.get("id"): cell for cell in nbformat.read(path, as_version=4).cells}
    assert cell_id in cells, f"claim {number}: no cell {cell_id!r} in {path.relative_to(REPO)}"
    assert cells[cell_id].cell_type == "code", f"claim {number}: cell {cell_id!r} is not a code cell"
    assert cells[cell_id].source.strip(), f"claim {number}: cell {cell_id!r} is empty"


def test_the_row_pattern_reads_every_form_of_the_last_column() -> None:
    """The row and reference patterns really parse (so a deleted cell cannot hide behind a parse miss)."""
    match = ROW.match("| 3 | acks defaults to all | librdkafka CONFIGURATION.md | `03-idempotent-producer#gone` |")
    assert match and cell_refs(match.group(4).strip()) == [("03-idempotent-producer", "gone")]
    assert cell_refs("`04-transactional-producer#a` (note), `#b`, `05-read-committed#c`") == [
        ("04-transactional-producer", "a"), ("04-transactional-producer", "b"), ("05-read-committed", "c")]
    assert _demonstrations(), "docs/claims.md names no demonstrating cell at all"
