"""EventBridge-style event patterns, matched against the normalized view.

A pattern has the nesting of the events it matches. Its leaves are lists: a field matches
when any element of its list matches (OR), and a pattern matches when all its fields do
(AND)::

    {"source": ["acs.imm"],
     "type": [{"prefix": "imm:Batch"}],
     "statistic": {"submit_failure": [{"numeric": [">=", 10]}]},
     "tags": {"team": ["legal", "finance"]}}

A list element is an exact value (string, number, boolean, null) or an operator object:
``prefix``, ``suffix``, ``contains``, ``equals-ignore-case``, ``anything-but``, ``numeric``,
``cidr`` or ``exists``. ``prefix`` and ``suffix`` also take ``{"equals-ignore-case": s}``;
``anything-but`` takes a value, a list of values, or one of ``{"prefix": s}``,
``{"suffix": s}``, ``{"equals-ignore-case": s}``. Several operators in one object must all
hold, as in Alibaba Cloud's ``{"prefix": "raw/", "suffix": ".mov"}``; ``exists`` stands alone.

Semantics, as EventBridge defines them except where marked:

- Exact and case-sensitive. A string never equals a number (``"5"`` is not ``5``), numbers
  compare by value (``5`` is ``5.0``), ``true`` is not ``1``, null is not ``""``.
- String operators match only strings; ``numeric`` matches only numbers.
- A missing field matches only ``{"exists": false}``; ``anything-but`` needs the field.
- Null is a value: ``[null]``, ``{"exists": true}`` and ``anything-but`` match it. Every
  top-level key of the normalized view is always present, so "no batch" is
  ``"batch_key": [null]``; ``exists`` is for keys inside ``data`` and ``tags``.
- When the event holds an array, a leaf matches if any element does; an empty array holds
  no value and counts as missing. A nested pattern over an array of objects must match one
  element whole, so fields are never matched across elements.
- A nested pattern over a value that is not an object sees all its fields missing.
- batchrelay only: ``{"exists": true}`` also matches an object (EventBridge looks only at
  leaves), so ``"statistic": [{"exists": true}]`` picks batch and trigger events.

:func:`compile_pattern` validates a pattern once and turns it into a tree of small closures;
errors are :class:`PatternError` naming the JSON path, e.g.
``match.statistic.submit_failure[0]: unknown operator "gte"``. Matching never raises.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final, get_args

from batchrelay.events.models import (
    ALERT_STATUSES,
    NORMALIZED_KEYS,
    NOTICE_KINDS,
    Ingress,
    Kind,
    Statistic,
    Status,
)
from batchrelay.routing.pattern_operators import (
    PatternError,
    Predicate,
    compile_operator,
    number,
    show,
)

__all__ = ["Pattern", "PatternError", "check_view_keys", "compile_pattern"]

#: A compiled field test; receives the event's value or ``_MISSING``.
Check = Callable[[Any], bool]

_MISSING: Final = object()  # the field is absent from the event
_OBJECT: Final = (dict, Mapping)  # dict first: the cheap test that views pass
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_MAX_DEPTH: Final = 32  # pattern nesting; far beyond any real event
_MAX_ARRAY_DEPTH: Final = 32  # arrays of arrays in an event are searched this deep
_STATISTIC_KEYS: Final = frozenset(Statistic.model_fields)
#: The view's keys with a closed set of values: a value outside it never matches.
VOCABULARIES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "status": (*get_args(Status), *ALERT_STATUSES),
    "kind": (*get_args(Kind), *NOTICE_KINDS),
    "ingress": get_args(Ingress),
})  # fmt: skip


class Pattern:
    """A compiled pattern. ``matches`` takes any value and never raises."""

    __slots__ = ("_check", "source")

    def __init__(self, source: Mapping[str, Any], check: Check) -> None:
        self.source = source
        self._check = check

    def matches(self, event: Any) -> bool:
        return self._check(event)

    def __eq__(self, other: object) -> bool:
        # Equal when written alike, so that configs holding patterns compare by content.
        # JSON text, not dict equality, which would take [1] for [true].
        if not isinstance(other, Pattern):
            return NotImplemented
        return _canonical(self.source) == _canonical(other.source)

    def __repr__(self) -> str:
        return f"Pattern({dict(self.source)!r})"


def _canonical(source: Mapping[str, Any]) -> str:
    return json.dumps(source, sort_keys=True, separators=(",", ":"))


def compile_pattern(pattern: Any, path: str = "match") -> Pattern:
    """Validate ``pattern`` and compile it; an empty pattern matches every event."""
    if not isinstance(pattern, Mapping):
        raise PatternError(f"{path}: a pattern must be an object of fields, got {show(pattern)}")
    return Pattern(pattern, _compile_object(pattern, path, depth=0))


def check_view_keys(pattern: Mapping[str, Any], path: str = "match") -> None:
    """Reject top-level keys the normalized view does not have, and values of ``status``,
    ``kind`` and ``ingress`` outside their vocabularies: either would never match."""
    for key, value in pattern.items():
        if key not in NORMALIZED_KEYS:
            known = ", ".join(NORMALIZED_KEYS)
            raise PatternError(f"{path}.{key}: not a key of the normalized view ({known})")
        if key in VOCABULARIES and isinstance(value, list):
            _check_vocabulary(value, f"{path}.{key}", VOCABULARIES[key])
        if key == "statistic" and isinstance(value, Mapping):
            for sub in value:
                if sub not in _STATISTIC_KEYS:
                    known = ", ".join(sorted(_STATISTIC_KEYS))
                    raise PatternError(f"{path}.statistic.{sub}: not a statistic key ({known})")


def _check_vocabulary(values: list[Any], path: str, known: tuple[str, ...]) -> None:
    for index, element in enumerate(values):
        for word, fold in _words(element):
            if (word.lower() if fold else word) in (k.lower() if fold else k for k in known):
                continue
            close = difflib.get_close_matches(word.lower(), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PatternError(f"{path}[{index}]: {word!r} is never a value here{hint}; "
                               f"the values are {', '.join(known)}")  # fmt: skip


def _words(element: Any) -> Iterator[tuple[str, bool]]:
    """The whole values a list element compares with: (value, case-insensitive)."""
    if isinstance(element, str):
        yield element, False
    elif isinstance(element, Mapping):
        folded = element.get("equals-ignore-case")
        if isinstance(folded, str):
            yield folded, True
        excluded = element.get("anything-but")
        for word in excluded if isinstance(excluded, list) else [excluded]:
            if isinstance(word, str):
                yield word, False


# -- objects and fields -----------------------------------------------------------------


def _compile_object(obj: Mapping[Any, Any], path: str, depth: int) -> Check:
    if depth > _MAX_DEPTH:
        raise PatternError(f"{path}: patterns nest at most {_MAX_DEPTH} levels deep")
    fields = tuple(_compile_field(key, value, path, depth) for key, value in obj.items())
    if not fields:
        return _always

    def check_object(container: Any) -> bool:
        found = container if isinstance(container, _OBJECT) else _EMPTY
        # A plain loop, not all(...): no generator per event on the ingest hot path.
        for key, check in fields:  # noqa: SIM110
            if not check(found.get(key, _MISSING)):
                return False
        return True

    return check_object


def _compile_field(key: Any, value: Any, path: str, depth: int) -> tuple[str, Check]:
    if not isinstance(key, str):
        raise PatternError(f"{path}: field names must be strings, got {show(key)}")
    here = f"{path}.{key}"
    if isinstance(value, Mapping):
        if not value:
            raise PatternError(f"{here}: an empty object; give fields or a list of values")
        return key, _nested(_compile_object(value, here, depth + 1))
    if isinstance(value, list | tuple):
        return key, _compile_leaf(value, here)
    raise PatternError(
        f"{here}: expected a list of values (such as [{show(value)}]) or a nested object, "
        f"got {show(value)}"
    )


def _nested(sub: Check) -> Check:
    def check_nested(value: Any) -> bool:
        if isinstance(value, list):
            return _any_object(sub, value)
        return sub(value)  # missing or not an object: ``sub`` sees every field missing

    return check_nested


def _any_object(sub: Check, items: list[Any]) -> bool:
    """A nested pattern over an array: one object element must match it whole."""
    seen_object = False
    for item in _elements(items):
        if isinstance(item, _OBJECT):
            seen_object = True
            if sub(item):
                return True
    # Without objects, the nested fields are simply absent (EventBridge flattens arrays).
    return False if seen_object else sub(_EMPTY)


def _elements(items: list[Any]) -> Iterator[Any]:
    """Array elements, arrays of arrays flattened (as EventBridge does), without recursion."""
    stack = [iter(items)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) < _MAX_ARRAY_DEPTH:
                    stack.append(iter(item))
                    break
                continue
            yield item
        else:
            stack.pop()


def _always(_: Any) -> bool:
    return True


# -- leaves -----------------------------------------------------------------------------


class _Leaf:
    """What one leaf list asks for, gathered while compiling it."""

    def __init__(self) -> None:
        self.strings: set[str] = set()
        self.numbers: set[int | float] = set()
        self.booleans: set[bool] = set()
        self.null = False
        self.predicates: list[Predicate] = []
        self.exists_true = False
        self.exists_false = False

    def add(self, element: Any, where: str) -> None:
        if element is None:
            self.null = True
        elif isinstance(element, bool):
            self.booleans.add(element)
        elif isinstance(element, str):
            self.strings.add(element)
        elif isinstance(element, int | float):
            self.numbers.add(number(element, where))
        elif isinstance(element, Mapping):
            self._add_operators(element, where)
        else:
            raise PatternError(f"{where}: {show(element)} is neither a value nor an operator")

    def _add_operators(self, obj: Mapping[Any, Any], where: str) -> None:
        if not obj:
            raise PatternError(f"{where}: an empty operator object")
        if "exists" in obj:
            self._add_exists(obj, where)
            return
        predicates = tuple(compile_operator(name, arg, where) for name, arg in obj.items())
        self.predicates.append(predicates[0] if len(predicates) == 1 else _all_of(predicates))

    def _add_exists(self, obj: Mapping[Any, Any], where: str) -> None:
        if len(obj) > 1:
            raise PatternError(f"{where}: exists cannot be combined with other operators")
        flag = obj["exists"]
        if not isinstance(flag, bool):
            raise PatternError(f"{where}.exists: expected true or false, got {show(flag)}")
        if flag:
            self.exists_true = True
        else:
            self.exists_false = True

    def compile(self) -> Check:
        scalar = _scalar_matcher(
            frozenset(self.strings),
            frozenset(self.numbers),
            frozenset(self.booleans),
            self.null,
            tuple(self.predicates),
        )
        present, absent = self.exists_true, self.exists_false

        # Objects are not values: ``scalar`` refuses them, so only exists:true sees them.
        def check_leaf(value: Any) -> bool:
            if value is _MISSING:
                return absent
            if isinstance(value, list):
                if not value:
                    return absent  # an empty array holds no value
                return present or any(scalar(item) for item in _elements(value))
            return present or scalar(value)

        return check_leaf


def _compile_leaf(values: list[Any] | tuple[Any, ...], path: str) -> Check:
    if not values:
        raise PatternError(f"{path}: an empty list matches nothing")
    leaf = _Leaf()
    for index, element in enumerate(values):
        leaf.add(element, f"{path}[{index}]")
    return leaf.compile()


def _scalar_matcher(
    strings: frozenset[str],
    numbers: frozenset[int | float],
    booleans: frozenset[bool],
    null: bool,
    predicates: tuple[Predicate, ...],
) -> Predicate:
    def scalar(value: Any) -> bool:
        # bool before int: True == 1 in Python, never in a pattern.
        if isinstance(value, str):
            if value in strings:
                return True
        elif isinstance(value, bool):
            if value in booleans:
                return True
        elif isinstance(value, int | float):
            if value in numbers:
                return True
        elif value is None:
            if null:
                return True
        else:
            return False  # objects and non-JSON values match no value and no operator
        for predicate in predicates:  # noqa: SIM110 (no generator per value: hot path)
            if predicate(value):
                return True
        return False

    return scalar


def _all_of(predicates: tuple[Predicate, ...]) -> Predicate:
    return lambda value: all(predicate(value) for predicate in predicates)
