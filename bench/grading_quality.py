"""Grading quality: autograde mutants of every solution and write docs/grading-quality.md.

Usage (from the repository root, in the course's environment)::

    python bench/grading_quality.py                                   # every assignment (hours)
    python bench/grading_quality.py 00-orientation 01-delivery-semantics
    python bench/grading_quality.py 03-idempotent-producer --limit 4  # a sample per exercise
    python bench/grading_quality.py --render-only                     # the report from the stored results
    python bench/grading_quality.py 06-exactly-once-pipeline --resume # grade only what the stored run left out

Uses KAFKA_BOOTSTRAP_SERVERS if set (with a course broker on another port than 9092, set
EOSLAB_BROKER_PORT too: the fault proxy finds the broker by it), else starts a private broker on
free ports in a temporary directory and stops it afterwards. Each assignment's results (every mutant: operator, line, diff,
points per graded cell) go to bench/results/grading-quality/NN-slug.json; the report is rendered
from every results file there, so assignments can be run at different times. Equivalent mutants
are explained by hand in tests/mutants/equivalent.json. What a mutant is: eoslab/grading/mutation.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from eoslab.errors import EoslabError
from eoslab.grading.course import assignments, check_assignment
from eoslab.grading.mutants import (DEFAULT_CELL_TIMEOUT_S, NOT_RUN, MutationRun, assignment_mutants, inputs_digest,
                                    load_curated_reasons, load_equivalent, render_report, run_mutants, sample,
                                    summary_table)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "grading-quality"
REPORT = REPO / "docs" / "grading-quality.md"
PREFACE = """\
A hidden test is only as good as the wrong answers it rejects. `eoslab instructor mutants` changes
each reference solution in one small way a learner might (a configuration key dropped or changed,
a comparison swapped, an off-by-one, a call left out, an `except` narrowed, a `with` block left
without its context manager, a constant returned, a transform skipped, a different answer letter) and autogrades every such *mutant* with the hidden
tests against a real broker; the hand-written wrong answers of `tests/wrong_answers/` run too.
A mutant is **killed** when a graded cell of its exercise loses points and **survives** when all
of them keep full marks. A survivor is either a missing hidden test or *equivalent* (it behaves
like a correct answer); the reason for an equivalent one is recorded in
`tests/mutants/equivalent.json`, and the kill rate leaves equivalent mutants out. The goal is at
least 90 % per exercise.

These figures describe the hidden tests of `main` on the date of each run. The hidden tests are
being strengthened in parallel, so rerun the command below after they change; a mutant's id
(`assignment/exercise/operator/hash of the mutated cell`) stays the same while the solution does,
so the survivors named here can be looked up in a later run. CI regrades a curated set
(`tests/mutants/NN-slug.json`, `tests/test_mutants.py`). A run with `--limit N` grades a sample (at
most N generated mutants per exercise, every hand-written wrong answer) and is marked *(sample)*;
`--resume` grades what a stored run left out and merges it, while the solution and its wrong
answers are unchanged. The runs of 2026-12-02 shared a 2-core machine with other jobs (load 7 to 14):
their minutes are upper bounds."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python bench/grading_quality.py 00-orientation")
    parser.add_argument("assignments", nargs="*", metavar="NN-slug", help="default: every assignment")
    parser.add_argument("--limit", type=int, help="at most N generated mutants per exercise (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel autograde runs (default 1)")
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT_S, help="seconds per cell")
    parser.add_argument("--deadline", type=float, default=60.0, help="minutes per assignment (default 60)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON results go")
    parser.add_argument("--report", type=Path, default=REPORT, help="the Markdown report (default docs/grading-quality.md)")
    parser.add_argument("--render-only", action="store_true", help="grade nothing: render the report from --results")
    parser.add_argument("--resume", action="store_true",
                        help="grade only the mutants the stored run of each assignment did not grade (a sample's rest, "
                             "or what its deadline left), and merge them into it; refused if the solution notebook or "
                             "its wrong answers changed since")
    return parser.parse_args(argv)


def command_line(args: argparse.Namespace, names: list[str]) -> str:
    parts = ["python bench/grading_quality.py", *names]
    if args.limit:
        parts.append(f"--limit {args.limit}")
    if args.cell_timeout != DEFAULT_CELL_TIMEOUT_S:
        parts.append(f"--cell-timeout {args.cell_timeout}")
    return " ".join(parts)


def stored_runs(results: Path) -> list[MutationRun]:
    return [MutationRun.from_json(json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(results.glob("*.json"))]


@contextlib.contextmanager
def course_broker() -> Iterator[str]:
    """KAFKA_BOOTSTRAP_SERVERS if set, else a private embedded broker on free ports, stopped afterwards.

    The kernels find a private broker as the tests' session broker is found: its address, its port
    (the fault proxy's ports follow from it) and its state directory (for broker restarts).
    """
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    from eoslab.broker import EmbeddedBroker
    from eoslab.broker.netutil import free_port_block

    with tempfile.TemporaryDirectory(prefix="eoslab-grading-quality-") as state_dir:
        broker = EmbeddedBroker(state_dir=Path(state_dir), port=free_port_block())
        broker.start(quiet=True)
        os.environ.update(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, EOSLAB_BROKER_PORT=str(broker.ports.client),
                          EOSLAB_STATE_DIR=str(broker.state_dir))
        try:
            yield broker.bootstrap
        finally:
            broker.stop()


def resume(stored: MutationRun, args: argparse.Namespace) -> MutationRun:
    """Grade the mutants ``stored`` left out (not sampled, or not run) and merge them into it."""
    digest = inputs_digest(stored.assignment, REPO)
    if stored.inputs_sha256 != digest:
        raise EoslabError(f"--resume {stored.assignment}: its solution notebook or wrong answers changed since the "
                          f"stored run of {stored.started}; run it again without --resume")
    everything = sample(assignment_mutants(stored.assignment, REPO), args.limit)
    done = {result.id for result in stored.results if result.status != NOT_RUN}
    todo = [mutant for mutant in everything if mutant.id not in done]
    if not todo:
        print(f"{stored.assignment}: nothing left to grade", flush=True)
        return stored
    rest = run_mutants(stored.assignment, root=REPO, mutants=todo, jobs=args.jobs, cell_timeout_s=args.cell_timeout,
                       deadline_s=args.deadline * 60, baseline=False)  # the stored run graded the solution
    by_id = {**{result.id: result for result in stored.results}, **rest.by_id()}
    order = [mutant.id for mutant in everything] + [key for key in by_id if key not in {m.id for m in everything}]
    return MutationRun(
        stored.assignment, stored.started, stored.cell_timeout_s, stored.affected, [by_id[key] for key in order],
        stored.unreliable, [*stored.notes, *rest.notes,
                            f"graded in two parts against the same solution and wrong answers: {stored.started} "
                            f"({len(done)} mutants), then {rest.started} ({len(todo)} more, `--resume`)"],
        round(stored.seconds + rest.seconds, 1), stored.rounds + rest.rounds,
        limit=args.limit, available=stored.available or len(by_id), inputs_sha256=digest)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [check_assignment(name, REPO) for name in args.assignments] if args.assignments else assignments(REPO)
    if not args.render_only:
        with course_broker() as bootstrap:
            print(f"broker {bootstrap}; assignments {', '.join(names)}", flush=True)
            for name in names:
                stored_path = args.results / f"{name}.json"
                if args.resume and stored_path.exists():
                    run = resume(MutationRun.from_json(json.loads(stored_path.read_text(encoding="utf-8"))), args)
                else:
                    run = run_mutants(name, root=REPO, limit=args.limit, jobs=args.jobs,
                                      cell_timeout_s=args.cell_timeout, deadline_s=args.deadline * 60)
                run.save(stored_path)
                print(summary_table(run, load_equivalent(REPO)), flush=True)
    runs = stored_runs(args.results)
    if not runs:
        print(f"no results in {args.results}: run without --render-only first", file=sys.stderr)
        return 1
    ran = [run.assignment for run in runs]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(render_report(runs, load_equivalent(REPO), command_line(args, ran), PREFACE,
                                              load_curated_reasons(REPO)), encoding="utf-8")
    print(f"report: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
