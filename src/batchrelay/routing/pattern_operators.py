"""The operators of event patterns (``prefix``, ``suffix``, ``numeric``, ``anything-but``
…), each compiled once into a predicate over one JSON scalar, with their arguments checked
and errors that name where in the pattern they are. Pure, no I/O."""

from __future__ import annotations

import ipaddress
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

from batchrelay.errors import ConfigError

#: A compiled operator; receives one JSON scalar (str, bool, int, float or None).
Predicate = Callable[[Any], bool]

_NUMERIC_BOUNDS: Final = {">": "lower", ">=": "lower", "<": "upper", "<=": "upper", "=": "equal"}


class PatternError(ConfigError):
    """A pattern is malformed; the message starts with the JSON path of the problem."""


def compile_operator(name: Any, arg: Any, where: str) -> Predicate:
    builder = _OPERATORS.get(name) if isinstance(name, str) else None
    if builder is None:
        known = ", ".join(sorted([*_OPERATORS, "exists"]))
        raise PatternError(f'{where}: unknown operator "{name}"; expected one of {known}')
    return builder(arg, f"{where}.{name}")


def _prefix(arg: Any, where: str) -> Predicate:
    text, fold = _text_or_ignore_case(arg, where)
    if fold:
        return lambda value: isinstance(value, str) and value.casefold().startswith(text)
    return lambda value: isinstance(value, str) and value.startswith(text)


def _suffix(arg: Any, where: str) -> Predicate:
    text, fold = _text_or_ignore_case(arg, where)
    if fold:
        return lambda value: isinstance(value, str) and value.casefold().endswith(text)
    return lambda value: isinstance(value, str) and value.endswith(text)


def _contains(arg: Any, where: str) -> Predicate:
    text = _text(arg, where)
    return lambda value: isinstance(value, str) and text in value


def _equals_ignore_case(arg: Any, where: str) -> Predicate:
    text = _text(arg, where).casefold()
    return lambda value: isinstance(value, str) and value.casefold() == text


def _numeric(arg: Any, where: str) -> Predicate:
    lower, low, upper, high = _numeric_range(arg, where)
    return lambda value: (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and lower(value, low)
        and upper(value, high)
    )


def _cidr(arg: Any, where: str) -> Predicate:
    try:
        network = ipaddress.ip_network(_text(arg, where), strict=False)
    except ValueError:
        raise PatternError(f"{where}: {arg!r} is not an IP network such as 10.0.0.0/24") from None

    def in_network(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return ipaddress.ip_address(value) in network
        except ValueError:
            return False

    return in_network


def _anything_but(arg: Any, where: str) -> Predicate:
    if isinstance(arg, Mapping):
        return _anything_but_operator(arg, where)
    items = arg if isinstance(arg, list | tuple) else [arg]
    if not items:
        raise PatternError(f"{where}: an empty list excludes nothing")
    strings: set[str] = set()
    numbers: set[int | float] = set()
    for index, item in enumerate(items):
        if isinstance(item, str):
            strings.add(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            numbers.add(number(item, f"{where}[{index}]"))
        else:
            raise PatternError(f"{where}: excludes strings and numbers only, got {show(item)}")
    return _excluding(frozenset(strings), frozenset(numbers))


def _excluding(strings: frozenset[str], numbers: frozenset[int | float]) -> Predicate:
    def anything_but(value: Any) -> bool:
        if isinstance(value, str):
            return value not in strings
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value not in numbers
        return True  # true, false and null are none of the excluded strings or numbers

    return anything_but


def _anything_but_operator(arg: Mapping[Any, Any], where: str) -> Predicate:
    if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix", "equals-ignore-case"):
        raise PatternError(
            f"{where}: expected one of prefix, suffix or equals-ignore-case, got {show(arg)}"
        )
    [(name, value)] = arg.items()
    texts = tuple(_texts(value, f"{where}.{name}"))
    if name == "prefix":
        return lambda v: not (isinstance(v, str) and v.startswith(texts))
    if name == "suffix":
        return lambda v: not (isinstance(v, str) and v.endswith(texts))
    folded = frozenset(text.casefold() for text in texts)
    return lambda v: not (isinstance(v, str) and v.casefold() in folded)


_OPERATORS: Final[dict[str, Callable[[Any, str], Predicate]]] = {
    "anything-but": _anything_but,
    "cidr": _cidr,
    "contains": _contains,
    "equals-ignore-case": _equals_ignore_case,
    "numeric": _numeric,
    "prefix": _prefix,
    "suffix": _suffix,
}


# -- operator arguments -----------------------------------------------------------------

Compare = Callable[[Any, Any], bool]


def _numeric_range(arg: Any, where: str) -> tuple[Compare, float, Compare, float]:
    """``[op, n]`` or ``[op, n, op, n]`` as (lower test, lower bound, upper test, upper bound)."""
    if not isinstance(arg, list | tuple) or len(arg) not in (2, 4):
        raise PatternError(f'{where}: expected [op, n] or [op, n, op, n], e.g. [">=", 10]')
    lower: tuple[Compare, float] = (operator.ge, -math.inf)
    upper: tuple[Compare, float] = (operator.le, math.inf)
    kinds = []
    for index in range(0, len(arg), 2):
        op = arg[index]
        kind = _NUMERIC_BOUNDS.get(op) if isinstance(op, str) else None
        if kind is None:
            raise PatternError(
                f"{where}[{index}]: unknown comparison {show(op)}; use =, <, <=, >, >="
            )
        bound = number(arg[index + 1], f"{where}[{index + 1}]")
        kinds.append(kind)
        if kind in ("lower", "equal"):
            lower = (operator.gt if op == ">" else operator.ge, bound)
        if kind in ("upper", "equal"):
            upper = (operator.lt if op == "<" else operator.le, bound)
    _check_range(kinds, lower, upper, where)
    return lower[0], lower[1], upper[0], upper[1]


def _check_range(
    kinds: list[str], lower: tuple[Compare, float], upper: tuple[Compare, float], where: str
) -> None:
    if len(kinds) == 2 and sorted(kinds) != ["lower", "upper"]:
        raise PatternError(f"{where}: a range needs one of >, >= and one of <, <=")
    low, high = lower[1], upper[1]
    inclusive = lower[0] is operator.ge and upper[0] is operator.le
    if low > high or (low == high and not inclusive):
        raise PatternError(f"{where}: the range is empty, so it can never match")


def number(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PatternError(f"{where}: expected a number, got {show(value)}")
    if not math.isfinite(value):
        raise PatternError(f"{where}: expected a finite number, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise PatternError(f"{where}: expected a string, got {show(value)}")
    return value


def _texts(value: Any, where: str) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise PatternError(f"{where}: an empty list")
    return [_text(item, f"{where}[{index}]") for index, item in enumerate(items)]


def _text_or_ignore_case(arg: Any, where: str) -> tuple[str, bool]:
    """``"s"`` or ``{"equals-ignore-case": "s"}``; the flag says to compare casefolded."""
    if isinstance(arg, Mapping):
        if set(arg) != {"equals-ignore-case"}:
            raise PatternError(f'{where}: expected a string or {{"equals-ignore-case": string}}')
        return _text(arg["equals-ignore-case"], f"{where}.equals-ignore-case").casefold(), True
    return _text(arg, where), False


def show(value: Any) -> str:
    """A short description of a pattern value for error messages."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "..."
