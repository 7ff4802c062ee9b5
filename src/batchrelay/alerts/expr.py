"""Alert conditions: a CEL subset, parsed (by ``cel-python``) and checked, never eval'ed.

``compile_condition`` parses the source, then walks the syntax tree once to reject what a
rule cannot mean: unknown names and functions, comparisons between unlike types (``status
> 3``), ``1 == 1.0`` (CEL never equates int and double), a condition that is not true or
false. Every error is a ``ConfigError`` naming the rule, the line:column and the problem.

``Condition.evaluate`` never raises: a runtime failure (a missing figure, a division by
zero) makes the condition false, and ``Condition.explain`` says why, for the log.

The names a condition can use are those of ``batch_context``::

    submit_success, submit_failure, skip_files   IMM Statistic (0 when not sent)
    tasks          map status -> number of tasks; tasks_<status>, e.g. tasks_failed
    processed      succeeded + failed tasks, or submit_success + submit_failure if larger
    failure_ratio  failed / processed (a double), 0.0 when nothing was processed
    idle_for, age  durations since the last and the first event: idle_for > duration("15m")
    status, project, kind, batch_key    strings
    tags           map of strings: tags.team == "ops", "team" in tags
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, get_args

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from lark import Token, Tree

from batchrelay.errors import ConfigError
from batchrelay.events.models import Status
from batchrelay.store.base import BatchView

__all__ = ["Condition", "Outcome", "activation", "batch_context", "compile_condition"]

TASK_STATUSES: tuple[str, ...] = get_args(Status)

# Static types of the checker; "dyn" is unknown and checks nothing.
_NUMERIC = frozenset({"int", "double"})
_ORDERED = frozenset({"string", "duration"})
_ARITHMETIC = {  # operator -> operand types it works on (both the same); others: _NUMERIC
    "addition_add": frozenset({"int", "double", "string", "duration"}),
    "addition_sub": frozenset({"int", "double", "duration"}),
}

NAMES: dict[str, str] = {
    "submit_success": "int",
    "submit_failure": "int",
    "skip_files": "int",
    "tasks": "map:int",
    **{f"tasks_{status}": "int" for status in TASK_STATUSES},
    "processed": "int",
    "failure_ratio": "double",
    "idle_for": "duration",
    "age": "duration",
    "status": "string",
    "project": "string",
    "kind": "string",
    "batch_key": "string",
    "tags": "map:string",
}

# name -> (argument types accepted, result type)
_FUNCTIONS: dict[str, tuple[frozenset[str], str]] = {
    "duration": (frozenset({"string"}), "duration"),
    "size": (frozenset({"string", "map:int", "map:string", "list"}), "int"),
    "int": (frozenset({"int", "double", "string"}), "int"),
    "double": (frozenset({"int", "double", "string"}), "double"),
    "string": (frozenset({"int", "double", "string", "bool", "duration"}), "string"),
}
_STRING_METHODS = frozenset({"startsWith", "endsWith", "contains"})

_LITERALS = {
    "INT_LIT": "int",
    "FLOAT_LIT": "double",
    "STRING_LIT": "string",
    "BOOL_LIT": "bool",
    "NULL_LIT": "null",
}

_ENV = celpy.Environment()


@dataclass(frozen=True, slots=True)
class Outcome:
    """One evaluation: whether the condition holds and, when it could not be decided, why."""

    matched: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition; evaluate it against a ``batch_context``."""

    rule: str
    source: str
    _program: celpy.Runner

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        """True when the condition holds; False when it does not or cannot be decided."""
        return self.explain(context).matched

    def explain(self, context: Mapping[str, Any]) -> Outcome:
        """Like ``evaluate``, with the reason when the condition could not be decided."""
        try:
            values = activation(context)
        except TypeError as exc:  # a value CEL has no type for: undecided, like any failure
            return Outcome(False, f"TypeError: {_first_line(exc)}")
        return self.explain_activation(values)

    def explain_activation(self, values: Mapping[str, Any]) -> Outcome:
        """:meth:`explain` on values already converted by :func:`activation` (convert once
        per batch, evaluate every rule on it)."""
        try:
            result = self._program.evaluate(values)
        except Exception as exc:  # never raise: a broken rule must not stop the others
            return Outcome(False, f"{type(exc).__name__}: {_first_line(exc)}")
        if isinstance(result, celtypes.BoolType | bool):
            return Outcome(bool(result))
        return Outcome(False, f"condition gave {type(result).__name__}, not a boolean")


def activation(context: Mapping[str, Any]) -> dict[str, Any]:
    """A ``batch_context`` as CEL values."""
    return {key: to_cel(value) for key, value in context.items()}


def compile_condition(source: str, *, rule: str) -> Condition:
    """Parse and check ``source``; raise ``ConfigError`` naming ``rule`` and the position."""
    try:
        tree = _ENV.compile(source)
        result = _Checker(rule).infer(tree)
    except CELParseError as exc:
        where = f"{exc.line}:{exc.column}" if exc.line is not None else "?"
        raise ConfigError(f"alert rule {rule!r}: condition at {where}: syntax error") from exc
    except RecursionError:
        raise ConfigError(f"alert rule {rule!r}: condition nests too deeply") from None
    if result not in {"bool", "dyn"}:
        raise ConfigError(
            f"alert rule {rule!r}: condition at 1:1: must be true or false, not {result}"
        )
    return Condition(rule, source, _ENV.program(tree))


def batch_context(view: BatchView, now: datetime) -> dict[str, Any]:
    """The names a condition can use, computed from one batch of the ledger at ``now``."""
    statistic = view.statistic
    success = statistic.submit_success if statistic else 0
    failure = statistic.submit_failure if statistic else 0
    tasks = {status: 0 for status in TASK_STATUSES} | dict(view.task_counts)
    by_tasks = tasks["succeeded"] + tasks["failed"]
    processed, failed = (by_tasks, tasks["failed"])
    if success + failure > by_tasks:
        processed, failed = (success + failure, failure)
    return {
        "submit_success": success,
        "submit_failure": failure,
        "skip_files": statistic.skip_files if statistic else 0,
        "tasks": tasks,
        **{f"tasks_{status}": tasks[status] for status in TASK_STATUSES},
        "processed": processed,
        "failure_ratio": failed / processed if processed else 0.0,
        "idle_for": max(now - view.last_seen, timedelta(0)),
        "age": max(now - view.first_seen, timedelta(0)),
        "status": view.state,
        "project": view.project or "",
        "kind": view.kind,
        "batch_key": view.batch_key,
        "tags": dict(view.tags),
    }


def to_cel(value: Any) -> Any:
    """A Python value of a context as the CEL value the program works on."""
    if value is None:
        return None
    converter = _CONVERTERS.get(type(value))
    if converter is not None:
        return converter(value)
    if isinstance(value, Mapping):
        return celtypes.MapType({to_cel(k): to_cel(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return celtypes.ListType([to_cel(item) for item in value])
    raise TypeError(f"no CEL value for {type(value).__name__}")


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    bool: celtypes.BoolType,
    int: celtypes.IntType,
    float: celtypes.DoubleType,
    str: celtypes.StringType,
    timedelta: celtypes.DurationType,
    datetime: celtypes.TimestampType,
}


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    text = text.split(" (in activation", 1)[0]  # celpy appends its whole variable table
    return text.splitlines()[0][:200] if text else ""


class _Checker:
    """Infers a static type per node of the CEL syntax tree; raises on what cannot work."""

    def __init__(self, rule: str) -> None:
        self.rule = rule

    def fail(self, node: Tree[Token] | Token, what: str) -> NoReturn:
        raise ConfigError(f"alert rule {self.rule!r}: condition at {_where(node)}: {what}")

    def infer(self, node: Tree[Token] | Token) -> str:
        if isinstance(node, Token):
            self.fail(node, f"unexpected {node!s}")
        handler = getattr(self, f"_t_{node.data}", None)
        if handler is None:
            self.fail(node, f"{node.data} is not supported in alert conditions")
        result: str = handler(node)
        return result

    def _pass(self, node: Tree[Token]) -> str:
        if len(node.children) != 1:
            self.fail(node, f"{node.data} is not supported in alert conditions")
        return self.infer(node.children[0])

    _t_member = _t_primary = _t_paren_expr = _pass

    def _t_expr(self, node: Tree[Token]) -> str:
        if len(node.children) == 1:
            return self.infer(node.children[0])
        cond, then, other = (self.infer(child) for child in node.children)
        self.expect(node.children[0], cond, {"bool"}, "a ? b : c needs a boolean a")
        return then if then == other else "dyn"

    def _logical(self, node: Tree[Token]) -> str:
        if len(node.children) == 1:
            return self.infer(node.children[0])
        for child in node.children:
            self.expect(child, self.infer(child), {"bool"}, "&& and || need booleans")
        return "bool"

    _t_conditionalor = _t_conditionaland = _logical

    def _t_relation(self, node: Tree[Token]) -> str:
        if len(node.children) == 1:
            return self.infer(node.children[0])
        op, left, right = self._binary(node)
        if op.data == "relation_in":
            return self._in(op, left, right)
        ordered = op.data not in {"relation_eq", "relation_ne"}
        _compare(self, op, left, right, ordered=ordered)
        return "bool"

    def _binary(self, node: Tree[Token]) -> tuple[Tree[Token], str, str]:
        """The operator node and the types of both operands of ``left <op> right``."""
        op, right = node.children
        if not isinstance(op, Tree):
            self.fail(node, f"unexpected {op!s}")
        return op, self.infer(op.children[0]), self.infer(right)

    def _in(self, node: Tree[Token], left: str, right: str) -> str:
        if right == "dyn":
            return "bool"
        if right.startswith("map:"):
            self.expect(node, left, {"string"}, "the keys of a map are strings")
        elif right.startswith("list"):
            _compare(self, node, left, right.partition(":")[2] or "dyn", ordered=False)
        else:
            self.fail(node, f"'in' needs a list or a map on its right, not {right}")
        return "bool"

    def _arithmetic(self, node: Tree[Token]) -> str:
        if len(node.children) == 1:
            return self.infer(node.children[0])
        op, left, right = self._binary(node)
        if "dyn" in {left, right}:
            return "dyn"
        if left != right or left not in _ARITHMETIC.get(str(op.data), _NUMERIC):
            hint = " (write 2.0, not 2, next to a double)" if {left, right} == _NUMERIC else ""
            self.fail(op.children[0], f"cannot combine {left} and {right} here{hint}")
        return left

    _t_addition = _t_multiplication = _arithmetic

    def _t_unary(self, node: Tree[Token]) -> str:
        if len(node.children) == 1:
            return self.infer(node.children[0])
        op, operand = node.children
        found = self.infer(operand)
        if isinstance(op, Tree) and op.data == "unary_not":
            self.expect(operand, found, {"bool"}, "! needs a boolean")
            return "bool"
        self.expect(operand, found, {"int", "double", "duration"}, "- needs a number")
        return found

    def _t_ident(self, node: Tree[Token]) -> str:
        name = str(node.children[0])
        if name not in NAMES:
            self.fail(node, f"unknown name {name!r} (known: {', '.join(sorted(NAMES))})")
        return NAMES[name]

    def _t_literal(self, node: Tree[Token]) -> str:
        token = node.children[0]
        kind = token.type if isinstance(token, Token) else ""
        if kind not in _LITERALS:
            self.fail(node, f"{kind.lower() or 'this literal'} is not supported")
        return _LITERALS[kind]

    def _t_ident_arg(self, node: Tree[Token]) -> str:
        name, *rest = node.children
        if str(name) not in _FUNCTIONS:
            self.fail(node, f"unknown function {str(name)!r} (known: {', '.join(_FUNCTIONS)})")
        accepted, result = _FUNCTIONS[str(name)]
        args = _arguments(rest)
        if len(args) != 1:
            self.fail(node, f"{name}() takes one argument")
        found = self.infer(args[0])
        self.expect(args[0], found, accepted | {"dyn"}, f"{name}() cannot take {found}")
        if str(name) == "duration":
            self._check_duration(args[0])
        return result

    def _check_duration(self, arg: Tree[Token]) -> None:
        tokens = [t for t in arg.scan_values(lambda v: isinstance(v, Token))]
        if len(tokens) == 1 and tokens[0].type == "STRING_LIT":
            try:
                celtypes.DurationType(str(tokens[0])[1:-1])
            except ValueError:
                self.fail(arg, f"invalid duration {tokens[0]!s}: use units such as 30s, 15m, 4h")

    def _t_member_dot(self, node: Tree[Token]) -> str:
        base_node, field = node.children
        base = self.infer(base_node)
        if base == "dyn":
            return "dyn"
        if not base.startswith("map:"):
            self.fail(node, f"{base} has no field {field!s}")
        return base.partition(":")[2]

    def _t_member_index(self, node: Tree[Token]) -> str:
        base_node, key_node = node.children
        base = self.infer(base_node)
        key = self.infer(key_node)
        if base.startswith("map:"):
            self.expect(key_node, key, {"string"}, "map keys are strings")
            return base.partition(":")[2]
        self.expect(node, base, {"list"}, f"{base} cannot be indexed")
        return "dyn"

    def _t_member_dot_arg(self, node: Tree[Token]) -> str:
        base_node, method, *rest = node.children
        base = self.infer(base_node)
        if str(method) not in _STRING_METHODS:
            self.fail(node, f"unknown method {method!s} (known: {', '.join(_STRING_METHODS)})")
        self.expect(base_node, base, {"string"}, f"{method}() works on strings")
        args = _arguments(rest)
        if len(args) != 1:
            self.fail(node, f"{method}() takes one argument")
        self.expect(args[0], self.infer(args[0]), {"string"}, f"{method}() takes a string")
        return "bool"

    def _t_list_lit(self, node: Tree[Token]) -> str:
        found = {self.infer(item) for item in _arguments(node.children)}
        return f"list:{found.pop()}" if len(found) == 1 else "list"

    def expect(
        self, node: Tree[Token] | Token, found: str, allowed: set[str] | frozenset[str], what: str
    ) -> None:
        if found != "dyn" and found not in allowed:
            self.fail(node, f"{what}, got {found}")


def _compare(checker: _Checker, node: Tree[Token], left: str, right: str, *, ordered: bool) -> None:
    if "dyn" in {left, right} or (left == right and (not ordered or left in _NUMERIC | _ORDERED)):
        return
    if {left, right} == _NUMERIC:
        if ordered:
            return
        checker.fail(node, "int and double are never equal in CEL: write 1.0 or 1 to match")
    if not ordered and "null" in {left, right}:
        return
    verb = "order" if ordered else "compare"
    checker.fail(node, f"cannot {verb} {left} with {right}")


def _arguments(children: list[Tree[Token] | Token]) -> list[Tree[Token]]:
    exprlist = [c for c in children if isinstance(c, Tree) and c.data == "exprlist"]
    return [c for c in exprlist[0].children if isinstance(c, Tree)] if exprlist else []


def _where(node: Tree[Token] | Token) -> str:
    tokens = [node] if isinstance(node, Token) else node.scan_values(lambda v: isinstance(v, Token))
    for token in tokens:
        if isinstance(token, Token) and token.line is not None:
            return f"{token.line}:{token.column}"
    return "?"
