"""Mutants of a reference solution: small edits that mirror the mistakes learners make.

A grader is only as good as the wrong answers it rejects. This module makes wrong answers by rule:
each operator walks the AST of one answer cell of ``solutions/NN-slug`` and changes one thing
inside its ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region (code outside the region is what
the learner was given, so it is never mutated). The edit is made on the source text at the node's
position, so comments, markers and layout survive and the diff is one or two lines.

Operators (``OPERATORS``), each named after the mistake it stands for:

- ``config-drop`` / ``config-value``: a client configuration (a dict literal with Kafka keys) loses
  one entry, or one value is changed (``True``/``False``, ``all`` -> ``1``, ``earliest`` ->
  ``latest``, ``read_committed`` -> ``read_uncommitted``, a number + 1, a generated id fixed);
- ``compare``: ``>``/``>=``, ``<``/``<=``, ``==``/``!=``, ``is``/``is not``, ``in``/``not in`` swapped;
- ``off-by-one``: ``x + 1`` / ``x - 1`` loses its ``1``; any other integer constant grows by one;
- ``remove-call``: a call statement (``flush()``, ``close()``, ``commit()``, a seek …) is dropped;
- ``narrow-except``: an ``except`` catches ``ValueError`` instead of what it names;
- ``drop-with``: a ``with`` block runs without its context manager (``with db:``: no transaction);
- ``return-constant``: ``return x`` becomes ``return None`` (a boolean constant is flipped);
- ``skip-transform``: a one-argument function returns its input; ``f(x)`` becomes ``x``;
- ``answer-choice``: a knowledge-check answer is another letter, a set loses or gains a letter,
  a prediction takes another of the values offered.

Every mutant has a stable id ``NN-slug/exercise/operator/hash``: the hash is of the mutated cell
source, so the id stays the same for as long as the solution does, and ``tests/mutants/`` can name
mutants across runs. Nothing here runs a notebook: :mod:`.mutants` grades them.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_BEGIN = re.compile(r"^\s*### BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*### END SOLUTION\s*$")

# Keys of librdkafka / Kafka client configurations that have no dot in their name.
CONFIG_KEYS_WITHOUT_DOT = {"acks", "retries", "linger.ms", "debug"}
# A learner's typical wrong value for a known value.
VALUE_SWAPS = {
    "all": "1", "-1": "1", "1": "all",
    "earliest": "latest", "smallest": "latest", "beginning": "latest", "latest": "earliest",
    "read_committed": "read_uncommitted", "read_uncommitted": "read_committed",
}
# Values a learner writes as one fixed string instead of generating a fresh one per run.
GENERATED_ID_KEYS = {"group.id", "transactional.id", "client.id", "group.instance.id"}
FIXED_ID = "my-fixed-id"
CHOICES = "abcd"
EXCEPT_REPLACEMENT = "ValueError"
_SILENT_CALLS = {"print", "display", "pprint"}
_BUILTIN_NAMES = set(dir(builtins))


@dataclass(frozen=True)
class Mutant:
    """One changed answer cell: the edit, where it is, and the cell's new source."""

    id: str
    assignment: str
    exercise: str  # the answer cell's grade_id
    operator: str
    line: int  # 1-based line of the edit in the cell (0: the whole cell, a hand-written wrong answer)
    description: str
    original: str
    source: str

    def diff(self, context: int = 0, max_lines: int = 40) -> str:
        return short_diff(self.original, self.source, context, max_lines)


def mutant_id(assignment: str, exercise: str, operator: str, source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:10]
    return f"{assignment}/{exercise}/{operator}/{digest}"


def short_diff(original: str, mutated: str, context: int = 0, max_lines: int = 40) -> str:
    lines = list(difflib.unified_diff(original.splitlines(), mutated.splitlines(), lineterm="", n=context))[2:]
    lines = [line for line in lines if not line.startswith("@@")] if context == 0 else lines
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"… ({len(lines) - max_lines} more lines)"]
    return "\n".join(lines)


def solution_lines(source: str) -> set[int]:
    """1-based line numbers strictly inside ``### BEGIN SOLUTION`` / ``### END SOLUTION`` regions."""
    inside: set[int] = set()
    active = False
    for number, line in enumerate(source.splitlines(), start=1):
        if _BEGIN.match(line):
            active = True
        elif _END.match(line):
            active = False
        elif active:
            inside.add(number)
    return inside


# --- editing the text at a node's position -------------------------------------------------------

class _Text:
    """A cell's source with byte-exact replacement of a node's span (AST offsets are UTF-8 bytes)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.encode("utf-8").splitlines(keepends=True)

    def _offset(self, lineno: int, col: int) -> int:
        return sum(len(line) for line in self.lines[: lineno - 1]) + col

    def replace(self, node: ast.AST, text: str) -> str:
        data = self.source.encode("utf-8")
        start = self._offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self._offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return (data[:start] + text.encode("utf-8") + data[end:]).decode("utf-8")

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    def delete_lines(self, first: int, last: int) -> str:
        return b"".join(self.lines[: first - 1] + self.lines[last:]).decode("utf-8")


@dataclass(frozen=True)
class _Edit:
    line: int
    description: str
    source: str


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _str_keys(node: ast.Dict) -> list[str] | None:
    keys = [key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None for key in node.keys]
    return None if any(key is None for key in keys) or not keys else keys  # type: ignore[return-value]


def _is_config(node: ast.AST) -> bool:
    if not isinstance(node, ast.Dict):
        return False
    keys = _str_keys(node)
    return bool(keys) and any("." in key or key in CONFIG_KEYS_WITHOUT_DOT for key in keys)  # type: ignore[union-attr]


def _in_config(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if _is_config(node):
            return True
    return False


def _inside(node: ast.AST, lines: set[int]) -> bool:
    return getattr(node, "lineno", None) in lines


# --- the operators -------------------------------------------------------------------------------

def _config_drop(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    for node in ast.walk(tree):
        if not (_is_config(node) and _inside(node, lines)):
            continue
        assert isinstance(node, ast.Dict)
        for index, (key, value) in enumerate(zip(node.keys, node.values)):
            assert key is not None
            others = [n for i, n in enumerate(zip(node.keys, node.values)) if i != index]
            alone = all(k.end_lineno < key.lineno or k.lineno > value.end_lineno  # type: ignore[union-attr]
                        for pair in others for k in pair)
            if alone and key.lineno != node.lineno and value.end_lineno != node.end_lineno:
                source = text.delete_lines(key.lineno, value.end_lineno)  # the entry's lines, comment included
            else:
                remaining = ast.Dict(keys=[k for k, _ in others], values=[v for _, v in others])
                source = text.replace(node, ast.unparse(remaining))
            yield _Edit(key.lineno, f"drop the {key.value!r} entry", source)  # type: ignore[union-attr]


def _changed_value(key: str, value: ast.expr) -> str | None:
    if isinstance(value, ast.Constant):
        if isinstance(value.value, bool):
            return repr(not value.value)
        if isinstance(value.value, int):
            return repr(value.value + 1)
        if isinstance(value.value, str) and value.value in VALUE_SWAPS:
            return repr(VALUE_SWAPS[value.value])
        if isinstance(value.value, str) and key in GENERATED_ID_KEYS:
            return None  # already a fixed string
        return None
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and isinstance(value.operand, ast.Constant):
        return repr(VALUE_SWAPS.get(f"-{value.operand.value}", 1))
    if key in GENERATED_ID_KEYS:
        return repr(FIXED_ID)
    return None


def _config_value(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    for node in ast.walk(tree):
        if not (_is_config(node) and _inside(node, lines)):
            continue
        assert isinstance(node, ast.Dict)
        for key, value in zip(node.keys, node.values):
            assert isinstance(key, ast.Constant)
            new = _changed_value(key.value, value)
            if new is not None:
                yield _Edit(value.lineno, f"{key.value!r}: {text.segment(value)} -> {new}", text.replace(value, new))


_COMPARE_SWAPS: dict[type, type] = {
    ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}


def _compare(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Compare) and _inside(node, lines)):
            continue
        for index, op in enumerate(node.ops):
            swapped = ast.Compare(left=node.left, ops=list(node.ops), comparators=node.comparators)
            swapped.ops[index] = _COMPARE_SWAPS[type(op)]()
            new = ast.unparse(swapped)
            yield _Edit(node.lineno, f"{text.segment(node)} -> {new}", text.replace(node, new))


def _off_by_one(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    parents = _parents(tree)
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub) and _inside(node, lines)
                and isinstance(node.right, ast.Constant) and node.right.value == 1
                and not isinstance(node.right.value, bool)):
            skipped.add(node.right)
            left = text.segment(node.left)
            yield _Edit(node.lineno, f"{text.segment(node)} -> {left}", text.replace(node, left))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool)
                and _inside(node, lines) and node not in skipped and not _in_config(node, parents)
                and not any(isinstance(parent, ast.JoinedStr) for parent in _ancestors(node, parents))):
            new = repr(node.value + 1)
            yield _Edit(node.lineno, f"{node.value} -> {new}", text.replace(node, new))


def _first_line(code: str) -> str:
    lines = code.splitlines() or [""]
    return lines[0] + (" …" if len(lines) > 1 else "")


def _one_line(description: str, limit: int = 100) -> str:
    text = " ".join(description.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"



def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> Iterator[ast.AST]:
    while node in parents:
        node = parents[node]
        yield node


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _remove_call(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    for node in ast.walk(tree):
        value = node.value if isinstance(node, ast.Expr) else None
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call) and _inside(node, lines) and _call_name(value) not in _SILENT_CALLS:
            yield _Edit(node.lineno, f"remove the call {_first_line(text.segment(node))}", text.replace(node, "pass"))


def _narrow_except(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ExceptHandler) and _inside(node, lines)):
            continue
        if node.type is None:
            first = text.source.splitlines()[node.lineno - 1]
            changed = re.sub(r"except\s*:", f"except {EXCEPT_REPLACEMENT}:", first, count=1)
            all_lines = text.source.splitlines(keepends=True)
            all_lines[node.lineno - 1] = changed + ("\n" if all_lines[node.lineno - 1].endswith("\n") else "")
            yield _Edit(node.lineno, f"except: -> except {EXCEPT_REPLACEMENT}:", "".join(all_lines))
            continue
        new = "KeyError" if text.segment(node.type) == EXCEPT_REPLACEMENT else EXCEPT_REPLACEMENT
        yield _Edit(node.lineno, f"except {text.segment(node.type)} -> except {new}", text.replace(node.type, new))


def _drop_with(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    source_lines = text.source.splitlines(keepends=True)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.With) and _inside(node, lines) and node.body[0].lineno > node.lineno):
            continue
        header = source_lines[node.lineno - 1]
        match = re.match(r"^(\s*)with\b.*?:(\s*(#.*)?)$", header.rstrip("\n"))
        if match is None or node.items[-1].context_expr.end_lineno != node.lineno:  # type: ignore[attr-defined]
            continue  # a header over several lines: left alone
        changed = list(source_lines)
        changed[node.lineno - 1] = f"{match.group(1)}if True:{match.group(2)}" + ("\n" if header.endswith("\n") else "")
        items = ", ".join(text.segment(item.context_expr) for item in node.items)
        yield _Edit(node.lineno, f"the block runs without `with {items}`", "".join(changed))


def _return_constant(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Return) and node.value is not None and _inside(node, lines)):
            continue
        value = node.value
        if isinstance(value, ast.Constant) and value.value is None:
            continue
        new = repr(not value.value) if isinstance(value, ast.Constant) and isinstance(value.value, bool) else "None"
        yield _Edit(node.lineno, f"return {text.segment(value)} -> return {new}", text.replace(value, new))


def _skip_transform(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        params = [arg.arg for arg in function.args.posonlyargs + function.args.args if arg.arg not in ("self", "cls")]
        if len(params) != 1:
            continue
        for node in ast.walk(function):
            if (isinstance(node, ast.Return) and node.value is not None and _inside(node, lines)
                    and not (isinstance(node.value, ast.Name) and node.value.id == params[0])):
                yield _Edit(node.lineno, f"return {text.segment(node.value)} -> return {params[0]} (the input)",
                            text.replace(node.value, params[0]))
    parents = _parents(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and _inside(node, lines)
                and len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Starred)
                and node.func.id not in _BUILTIN_NAMES and not node.func.id[:1].isupper()
                and not isinstance(parents.get(node), ast.Expr)):
            if isinstance(node.args[0], ast.Dict | ast.List | ast.Set | ast.Tuple):
                continue  # make_producer({...}) -> {...} is no learner's mistake
            argument = text.segment(node.args[0])
            yield _Edit(node.lineno, f"{text.segment(node)} -> {argument} (not transformed)", text.replace(node, argument))


def _letters(node: ast.AST) -> list[str] | None:
    if isinstance(node, ast.Set) and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return sorted(e.value for e in node.elts)  # type: ignore[attr-defined]
    return None


def _answer_choice(tree: ast.AST, text: _Text, lines: set[int]) -> Iterator[_Edit]:
    assert isinstance(tree, ast.Module)
    for statement in tree.body:  # answers are top-level assignments, not code inside a function
        if not (isinstance(statement, ast.Assign) and _inside(statement, lines)):
            continue
        value = statement.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value in CHOICES and value.value:
            other = CHOICES[(CHOICES.index(value.value) + 1) % len(CHOICES)]
            yield _Edit(value.lineno, f"answer {value.value!r} -> {other!r}", text.replace(value, repr(other)))
        elif (letters := _letters(value)) is not None:
            for letter in letters:
                rest = [item for item in letters if item != letter]
                new = "{" + ", ".join(repr(item) for item in rest) + "}" if rest else "set()"
                yield _Edit(value.lineno, f"answer without {letter!r}", text.replace(value, new))
            missing = next((letter for letter in CHOICES if letter not in letters), None)
            if missing:
                new = "{" + ", ".join(repr(item) for item in sorted([*letters, missing])) + "}"
                yield _Edit(value.lineno, f"answer with {missing!r} too", text.replace(value, new))
        elif isinstance(value, ast.Dict) and _str_keys(value) and not _is_config(value):
            offered = sorted({v.value for v in value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)})
            for key, item in zip(value.keys, value.values):
                if isinstance(item, ast.Constant) and item.value in offered and len(offered) > 1:
                    other = offered[(offered.index(item.value) + 1) % len(offered)]
                    yield _Edit(item.lineno, f"{key.value!r}: {item.value!r} -> {other!r}",  # type: ignore[union-attr]
                                text.replace(item, repr(other)))


Operator = Callable[[ast.AST, _Text, set[int]], Iterator[_Edit]]
OPERATORS: dict[str, Operator] = {
    "config-drop": _config_drop,
    "config-value": _config_value,
    "compare": _compare,
    "off-by-one": _off_by_one,
    "remove-call": _remove_call,
    "narrow-except": _narrow_except,
    "drop-with": _drop_with,
    "return-constant": _return_constant,
    "skip-transform": _skip_transform,
    "answer-choice": _answer_choice,
}
WRONG_ANSWER = "wrong-answer"  # the operator name of a hand-written wrong answer (tests/wrong_answers)


def mutate_source(source: str, assignment: str, exercise: str,
                  operators: list[str] | None = None) -> list[Mutant]:
    """Every mutant of one answer cell's ``source``, in a stable order, without duplicates.

    Only nodes inside the solution regions change; a mutant that does not compile, or whose source
    equals the original or an earlier mutant's, is left out.
    """
    lines = solution_lines(source)
    if not lines:
        return []
    tree = ast.parse(source)
    text = _Text(source)
    seen = {source}
    mutants: list[Mutant] = []
    for name in operators or list(OPERATORS):
        if name not in OPERATORS:
            raise ValueError(f"no mutation operator {name!r}; the operators are: {', '.join(OPERATORS)}")
        edits = sorted(OPERATORS[name](tree, text, lines), key=lambda edit: edit.line)  # stable: by line, then walk order
        for edit in edits:
            if edit.source in seen:
                continue
            try:
                compile(edit.source, f"<{exercise}>", "exec")
            except SyntaxError:
                continue
            seen.add(edit.source)
            mutants.append(Mutant(mutant_id(assignment, exercise, name, edit.source), assignment, exercise, name,
                                  edit.line, _one_line(edit.description), source, edit.source))
    return mutants


def wrong_answer_mutant(assignment: str, exercise: str, original: str, source: str, why: str) -> Mutant:
    """A hand-written wrong answer (``tests/wrong_answers``) in the same form as a generated mutant."""
    return Mutant(mutant_id(assignment, exercise, WRONG_ANSWER, source), assignment, exercise, WRONG_ANSWER, 0,
                  why, original, source)
