"""Grade mutants of the reference solution: which wrong answers do the hidden tests let through?

For one assignment (``eoslab instructor mutants NN-slug``):

1. every answer cell of ``solutions/NN-slug`` is mutated (:mod:`.mutation`), and the hand-written
   wrong answers of ``tests/wrong_answers/NN-slug.json`` join as mutants of their answer cell;
2. each mutant replaces its answer cell in the *solution* notebook, so every other exercise keeps
   its reference answer and full marks, and is autograded with the hidden tests in one scratch
   nbgrader course (:class:`.workspace.GradingWorkspace`: generated once, graded many times)
   against the real broker the kernels find (``KAFKA_BOOTSTRAP_SERVERS``);
3. a mutant is **killed** when one of its exercise's graded cells loses points, and **survives**
   when they all keep full marks.

An exercise's graded cells are those whose source uses a name the answer cell defines (directly,
or through another cell that uses it), plus the cells its wrong answers name. Mutants of exercises
with no graded cell in common are graded in one notebook (a *round*): a round costs one autograde
whatever it holds. The unchanged solution is graded first; a cell that loses points there is
unreliable (flaky, or too slow for the cell timeout) and is left out of every verdict, with a note.

Every run is bounded: a per-cell timeout (30 s by default) and a total deadline; mutants left when
the deadline passes are reported as "not run".
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from ..errors import EoslabError
from .course import check_assignment, course_root, source_notebook
from .mutation import Mutant, mutate_source, short_diff, wrong_answer_mutant
from .report import GradeReport
from .variants import WRONG_ANSWERS_DIR, answer_cells, graded_cells, load_wrong_answers, with_answers
from .workspace import GradingWorkspace

DEFAULT_CELL_TIMEOUT_S = 30
DEFAULT_DEADLINE_S = 3600
EQUIVALENT_FILE = Path("tests") / "mutants" / "equivalent.json"
KILLED, SURVIVED, NOT_RUN = "killed", "survived", "not run"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- which graded cells belong to which exercise -------------------------------------------------

def _defined_names(source: str) -> set[str]:
    """Top-level names a cell defines (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell with shell escapes or magics defines nothing we track
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def exercise_cells(notebook: nbformat.NotebookNode, wrong_answers: Iterable = ()) -> dict[str, list[str]]:
    """Each answer cell's grade_id -> the graded cells (in notebook order) its answer can change."""
    answers = answer_cells(notebook)
    tainted: dict[str, set[str]] = {grade_id: _defined_names(cell.source) for grade_id, cell in answers.items()}
    affected: dict[str, list[str]] = {grade_id: [] for grade_id in answers}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        own = meta.get("grade_id") if meta.get("grade_id") in answers else None
        words = set(_WORD.findall(cell.source))
        users = [grade_id for grade_id, names in tainted.items() if grade_id != own and words & names]
        defined = _defined_names(cell.source)
        for grade_id in users:
            tainted[grade_id] |= defined  # a later cell using these names depends on the answer too
            if meta.get("grade") and meta["grade_id"] not in affected[grade_id]:
                affected[grade_id].append(meta["grade_id"])
    order = list(graded_cells(notebook))
    for wrong in wrong_answers:
        if wrong.answer_cell in affected:
            affected[wrong.answer_cell] = sorted(set(affected[wrong.answer_cell]) | set(wrong.loses_points_in),
                                                 key=order.index)
    return affected


# --- the mutants of an assignment ----------------------------------------------------------------

def assignment_mutants(assignment: str, root: Path | None = None, exercises: list[str] | None = None,
                       include_wrong_answers: bool = True) -> list[Mutant]:
    """Every generated mutant and hand-written wrong answer of ``assignment``, in a stable order."""
    root = root or course_root()
    check_assignment(assignment, root)
    solution = nbformat.read(source_notebook(assignment, root), as_version=4)
    answers = answer_cells(solution)
    if exercises:
        unknown = [name for name in exercises if name not in answers]
        if unknown:
            raise EoslabError(f"{assignment} has no exercise {unknown[0]!r}; its exercises (answer cells) are: "
                              f"{', '.join(answers)} (e.g. `--exercise {next(iter(answers))}`)")
    selected = [name for name in answers if not exercises or name in exercises]
    mutants: list[Mutant] = []
    for grade_id in selected:
        mutants.extend(mutate_source(answers[grade_id].source, assignment, grade_id))
    if include_wrong_answers:
        seen = {mutant.source for mutant in mutants}
        for wrong in load_wrong_answers(root, assignment):
            if wrong.answer_cell in selected and wrong.source not in seen:
                seen.add(wrong.source)
                mutants.append(wrong_answer_mutant(assignment, wrong.answer_cell, answers[wrong.answer_cell].source,
                                                   wrong.source, wrong.why))
    return mutants


def inputs_digest(assignment: str, root: Path | None = None) -> str:
    """SHA-256 of what a mutation run of ``assignment`` depends on: its solution notebook and its wrong answers."""
    root = root or course_root()
    digest = hashlib.sha256(source_notebook(assignment, root).read_bytes())
    wrong = root / WRONG_ANSWERS_DIR / f"{assignment}.json"
    digest.update(wrong.read_bytes() if wrong.exists() else b"")
    return digest.hexdigest()


def sample(mutants: list[Mutant], limit: int | None) -> list[Mutant]:
    """At most ``limit`` generated mutants per exercise, taken in turn from each operator.

    Hand-written wrong answers are always kept: they are the baseline every grader must pass.
    """
    if limit is None:
        return mutants
    kept: list[Mutant] = []
    for exercise in dict.fromkeys(mutant.exercise for mutant in mutants):
        own = [mutant for mutant in mutants if mutant.exercise == exercise]
        by_operator: dict[str, list[Mutant]] = {}
        for mutant in own:
            if mutant.operator != "wrong-answer":
                by_operator.setdefault(mutant.operator, []).append(mutant)
        chosen: list[Mutant] = []
        while len(chosen) < limit and any(by_operator.values()):
            for queue in by_operator.values():
                if queue and len(chosen) < limit:
                    chosen.append(queue.pop(0))
        chosen_ids = {mutant.id for mutant in chosen}
        kept.extend(mutant for mutant in own if mutant.id in chosen_ids or mutant.operator == "wrong-answer")
    return kept


def plan_rounds(mutants: list[Mutant], affected: dict[str, list[str]]) -> list[list[Mutant]]:
    """Group mutants into notebooks: at most one per exercise, and no graded cell shared in a round."""
    queues: dict[str, list[Mutant]] = {}
    for mutant in mutants:
        queues.setdefault(mutant.exercise, []).append(mutant)
    planned: list[list[Mutant]] = []
    while any(queues.values()):
        chosen: list[Mutant] = []
        cells: set[str] = set()
        for exercise, queue in sorted(queues.items(), key=lambda item: -len(item[1])):  # longest queue first
            mine = set(affected.get(exercise, []))
            if queue and not (mine & cells):
                chosen.append(queue.pop(0))
                cells |= mine
        planned.append(chosen)
    return planned


# --- grading -------------------------------------------------------------------------------------

@dataclass
class MutantResult:
    id: str
    exercise: str
    operator: str
    line: int
    description: str
    diff: str
    status: str  # killed | survived | not run
    points: dict[str, list[float | None]] = field(default_factory=dict)  # graded cell -> [points, max]
    reasons: dict[str, str] = field(default_factory=dict)  # graded cell -> why it lost points
    round: int | None = None

    @property
    def killed_only_by_timeout(self) -> bool:
        return self.status == KILLED and bool(self.reasons) and all(
            reason.startswith("timed out") for reason in self.reasons.values())


@dataclass
class MutationRun:
    assignment: str
    started: str
    cell_timeout_s: int
    affected: dict[str, list[str]]
    results: list[MutantResult]
    unreliable: dict[str, str] = field(default_factory=dict)  # graded cell -> why the solution lost points
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rounds: int = 0
    limit: int | None = None  # --limit: at most this many generated mutants per exercise (a sample)
    available: int | None = None  # how many mutants the assignment has in all (sampled or not)
    inputs_sha256: str | None = None  # of the solution notebook and wrong answers graded (see inputs_digest)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> MutationRun:
        results = [MutantResult(**item) for item in data.pop("results")]
        return cls(results=results, **data)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    def by_id(self) -> dict[str, MutantResult]:
        return {result.id: result for result in self.results}


def _result(mutant: Mutant, status: str) -> MutantResult:
    return MutantResult(mutant.id, mutant.exercise, mutant.operator, mutant.line, mutant.description,
                        short_diff(mutant.original, mutant.source), status)


_WORKER: GradingWorkspace | None = None


def _start_worker(assignment: str, root: str, cell_timeout_s: int, directory: str) -> None:
    global _WORKER
    warnings.filterwarnings("ignore", module="nbgrader")  # its gradebook's SQLAlchemy chatter, once per run
    _WORKER = GradingWorkspace(assignment, directory=Path(directory) / f"worker-{os.getpid()}", root=Path(root),
                               cell_timeout_s=cell_timeout_s)


def _grade_in_worker(notebook_json: str, student: str) -> dict[str, list]:
    assert _WORKER is not None
    report = _WORKER.grade(nbformat.reads(notebook_json, as_version=4), student)
    return _scores(report)


def _scores(report: GradeReport) -> dict[str, list]:
    return {cell.grade_id: [cell.points, cell.max_points, cell.reason] for cell in report.cells}


def _full(score: list) -> bool:
    return score[0] is not None and score[0] >= score[1]


def run_mutants(assignment: str, *, root: Path | None = None, exercises: list[str] | None = None,
                mutants: list[Mutant] | None = None, limit: int | None = None, jobs: int = 1,
                cell_timeout_s: int = DEFAULT_CELL_TIMEOUT_S, deadline_s: float = DEFAULT_DEADLINE_S,
                directory: Path | None = None, progress: bool = True, baseline: bool = True,
                log: Callable[[str], None] | None = None) -> MutationRun:
    """Grade ``assignment``'s mutants (default: all of them, or those of ``exercises``) and say which survive.

    The kernels use the broker named by ``KAFKA_BOOTSTRAP_SERVERS`` (the caller checks it answers).
    ``baseline=False`` skips grading the unchanged solution first (CI, where another test does).
    """
    root = root or course_root()
    check_assignment(assignment, root)
    if jobs < 1:
        raise EoslabError(f"--jobs {jobs}: give 1 or more parallel autograde runs")
    started_at = time.monotonic()
    deadline = started_at + deadline_s
    solution = nbformat.read(source_notebook(assignment, root), as_version=4)
    affected = exercise_cells(solution, load_wrong_answers(root, assignment))
    everything = assignment_mutants(assignment, root, exercises) if mutants is None else mutants
    chosen = everything if mutants is not None else sample(everything, limit)
    planned = plan_rounds(chosen, affected)
    run = MutationRun(assignment, datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), cell_timeout_s,
                      affected, [], limit=limit if mutants is None else None, available=len(everything),
                      inputs_sha256=inputs_digest(assignment, root))
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    scratch = Path(directory) if directory else Path(tempfile.mkdtemp(prefix=f"eoslab-mutants-{assignment}-"))
    scratch.mkdir(parents=True, exist_ok=True)
    bar = _progress_bar(len(chosen) + baseline, assignment, progress)
    try:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker,
                                 initargs=(assignment, str(root), cell_timeout_s, str(scratch))) as pool:
            reference = pool.submit(_grade_in_worker, nbformat.writes(solution), "solution").result() if baseline else {}
            bar.update(int(baseline))
            run.unreliable = {cell: score[2] or "partial credit" for cell, score in reference.items() if not _full(score)}
            if run.unreliable:
                run.notes.append("the unchanged solution lost points in " + ", ".join(
                    f"{cell} ({why})" for cell, why in run.unreliable.items()) + ": left out of every verdict")
            results: dict[str, MutantResult] = {}
            for wave_start in range(0, len(planned), jobs):
                if time.monotonic() > deadline:
                    break
                wave = planned[wave_start:wave_start + jobs]
                futures = []
                for offset, group in enumerate(wave):
                    number = wave_start + offset
                    notebook = with_answers(solution, {mutant.exercise: mutant.source for mutant in group})
                    futures.append((number, group, pool.submit(_grade_in_worker, nbformat.writes(notebook),
                                                               f"round-{number}")))
                for number, group, future in futures:
                    scores = future.result()
                    run.rounds += 1
                    judged_cells: set[str] = set()
                    for mutant in group:
                        result = _judge(mutant, scores, affected.get(mutant.exercise, []), run.unreliable)
                        result.round = number
                        results[mutant.id] = result
                        judged_cells |= set(affected.get(mutant.exercise, []))
                    stray = [cell for cell, score in scores.items()
                             if cell not in judged_cells and cell not in run.unreliable and not _full(score)]
                    if stray:
                        run.notes.append(f"round {number}: {', '.join(stray)} lost points although no mutant in the "
                                         f"round belongs to them ({', '.join(m.id for m in group)})")
                    bar.update(len(group))
    finally:
        bar.close()
        shutil.rmtree(scratch, ignore_errors=True)
    run.results = [results.get(mutant.id) or _result(mutant, NOT_RUN) for mutant in chosen]
    not_run = sum(result.status == NOT_RUN for result in run.results)
    if not_run:
        run.notes.append(f"the deadline ({deadline_s:.0f} s) passed: {not_run} mutants not run")
    run.seconds = round(time.monotonic() - started_at, 1)
    say(f"{assignment}: {len(chosen)} mutants in {run.rounds} autograde runs, {run.seconds:.0f} s")
    return run


def _judge(mutant: Mutant, scores: dict[str, list], cells: list[str], unreliable: dict[str, str]) -> MutantResult:
    result = _result(mutant, SURVIVED)
    for cell in cells:
        if cell not in scores:
            continue
        points, max_points, reason = scores[cell]
        result.points[cell] = [points, max_points]
        if cell not in unreliable and not _full(scores[cell]):
            result.status = KILLED
            result.reasons[cell] = reason or "partial credit"
    return result


class _NoBar:
    def update(self, _: int) -> None: ...

    def close(self) -> None: ...


def _progress_bar(total: int, assignment: str, enabled: bool):  # noqa: ANN202 - tqdm or a stand-in
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=f"{assignment} mutants", unit="mutant", file=sys.stderr, dynamic_ncols=True)


# --- equivalent mutants and the report -----------------------------------------------------------

def load_equivalent(root: Path | None = None) -> dict[str, str]:
    """Mutant id -> why it is equivalent (its behaviour is a correct answer), hand-edited."""
    path = (root or course_root()) / EQUIVALENT_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}


@dataclass(frozen=True)
class ExerciseSummary:
    exercise: str
    mutants: int
    killed: int
    survived: int
    equivalent: int
    not_run: int

    @property
    def kill_rate(self) -> float | None:
        judged = self.killed + self.survived - self.equivalent
        return self.killed / judged if judged > 0 else None


def summarize(run: MutationRun, equivalent: dict[str, str]) -> list[ExerciseSummary]:
    summaries = []
    for exercise in dict.fromkeys(result.exercise for result in run.results):
        own = [result for result in run.results if result.exercise == exercise]
        survived = [result for result in own if result.status == SURVIVED]
        summaries.append(ExerciseSummary(
            exercise, len(own), sum(result.status == KILLED for result in own), len(survived),
            sum(result.id in equivalent for result in survived), sum(result.status == NOT_RUN for result in own)))
    return summaries


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def summary_table(run: MutationRun, equivalent: dict[str, str]) -> str:
    rows = summarize(run, equivalent)
    width = max([len(row.exercise) for row in rows] + [len("exercise")])
    lines = [f"{'exercise':<{width}}  mutants  killed  survived  equivalent  not run  kill rate"]
    for row in rows:
        lines.append(f"{row.exercise:<{width}}  {row.mutants:>7}  {row.killed:>6}  {row.survived:>8}  "
                     f"{row.equivalent:>10}  {row.not_run:>7}  {_percent(row.kill_rate):>9}")
    survivors = [result for result in run.results if result.status == SURVIVED and result.id not in equivalent]
    if survivors:
        lines.append("")
        lines.append("survivors (full marks on every graded cell of their exercise):")
        for result in survivors:
            lines.append(f"  {result.id}  line {result.line}: {result.description}")
    lines.extend(f"note: {note}" for note in run.notes)
    return "\n".join(lines)


def load_curated_reasons(root: Path | None = None) -> dict[str, str]:
    """Mutant id -> the "why" its entry in ``tests/mutants/NN-slug.json`` gives (CI's curated set)."""
    reasons: dict[str, str] = {}
    for path in sorted(((root or course_root()) / EQUIVALENT_FILE.parent).glob("[0-9][0-9]-*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8")).get("mutants", []):
            if entry.get("why"):
                reasons[entry["id"]] = entry["why"]
    return reasons


def _sampled(run: MutationRun) -> bool:
    return run.limit is not None and run.available is not None and run.available > len(run.results)


def render_report(runs: list[MutationRun], equivalent: dict[str, str], command: str, preface: str = "",
                  why: dict[str, str] | None = None) -> str:
    """docs/grading-quality.md: per assignment and exercise the kill rate, every survivor with its diff.

    ``why`` (mutant id -> text, e.g. :func:`load_curated_reasons`) adds why a survivor gets through.
    """
    why = why or {}
    out = ["# Grading quality: hidden tests proven by mutants", ""]
    if preface:
        out += [preface.strip(), ""]
    out += [f"Written {datetime.now(timezone.utc):%Y-%m-%d}. Rerun from the repository root (it uses the broker at "
            "`KAFKA_BOOTSTRAP_SERVERS`, with `EOSLAB_BROKER_PORT` for the fault proxy, else starts a private one):", "", "```bash", command, "```", ""]
    out += ["| assignment | exercise | mutants | killed | survived | equivalent | not run | kill rate (non-equivalent) |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        name = f"{run.assignment} (sample)" if _sampled(run) else run.assignment
        for row in summarize(run, equivalent):
            out.append(f"| {name} | `{row.exercise}` | {row.mutants} | {row.killed} | {row.survived} | "
                       f"{row.equivalent} | {row.not_run} | {_percent(row.kill_rate)} |")
    out += ["", "What each run cost: one autograde of the whole notebook per run, plus one of the unchanged "
            "solution first; wall-clock minutes with `--jobs 1`.", "",
            "| assignment | graded | mutants | autograde runs | minutes |", "|---|---|---:|---:|---:|"]
    for run in runs:
        out.append(f"| {run.assignment} | {run.started} | {len(run.results)}"
                   f"{f' of {run.available}' if _sampled(run) else ''} | {run.rounds} | {run.seconds / 60:.1f} |")
    out.append("")
    for run in runs:
        out += [f"## {run.assignment}", "",
                f"Graded {run.started}: {len(run.results)} mutants in {run.rounds} autograde runs, "
                f"{run.seconds / 60:.1f} min, cell timeout {run.cell_timeout_s} s.", ""]
        if _sampled(run):
            out += [f"**A sample:** at most {run.limit} generated mutants per exercise (`--limit {run.limit}`, taken in "
                    f"turn from each operator) and every hand-written wrong answer: {len(run.results)} of the "
                    f"{run.available} mutants this assignment has. Its kill rates describe the sample.", ""]
        for exercise, cells in run.affected.items():
            if any(result.exercise == exercise for result in run.results):
                out.append(f"- `{exercise}` is judged by {', '.join(f'`{cell}`' for cell in cells) or 'no graded cell'}")
        out.append("")
        by_operator: dict[str, list[int]] = {}
        for result in run.results:
            counts = by_operator.setdefault(result.operator, [0, 0])
            counts[0] += result.status == KILLED
            counts[1] += result.status in (KILLED, SURVIVED)
        out.append("Killed per operator: " + ", ".join(f"{op} {k}/{n}" for op, (k, n) in by_operator.items()) + ".")
        timeouts = [result.id for result in run.results if result.killed_only_by_timeout]
        if timeouts:
            out.append(f"Killed only by a cell timeout (slow rather than wrong, or an endless wait): {len(timeouts)}.")
        out.append("")
        for note in run.notes:
            out.append(f"> note: {note}")
        if run.notes:
            out.append("")
        survivors = [result for result in run.results if result.status == SURVIVED]
        if not survivors:
            out += ["No survivors.", ""]
            continue
        out += ["### Survivors", ""]
        for result in survivors:
            reason = equivalent.get(result.id)
            points = ", ".join(f"{cell} {p:g}/{m:g}" for cell, (p, m) in result.points.items() if p is not None)
            out += [f"#### `{result.id}`", "",
                    f"{result.operator}, line {result.line}: {result.description}. Points: {points or '—'}.", "",
                    *([f"why it gets through: {why[result.id]}", ""] if result.id in why and not reason else []),
                    f"equivalent: {reason}" if reason else "equivalent: *(not recorded: a hidden test should kill it, "
                    "or give the reason in tests/mutants/equivalent.json)*", "",
                    "```diff", result.diff, "```", ""]
    return "\n".join(out).rstrip() + "\n"
