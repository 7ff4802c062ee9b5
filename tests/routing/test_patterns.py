from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchrelay.errors import ConfigError
from batchrelay.routing import PatternError, check_view_keys, compile_pattern

from .conftest import PROPERTY, sample_view, view


def matches(pattern: dict[str, Any], event: Any) -> bool:
    return compile_pattern(pattern).matches(event)


def case(pattern: dict[str, Any], event: Any, expected: bool, id: str) -> Any:
    return pytest.param(pattern, event, expected, id=id)


def bad(pattern: Any, message: str, id: str) -> Any:
    return pytest.param(pattern, message, id=id)


SOURCES = {"Sources": [{"URI": "oss://media-in/raw/a.mov"}, {"URI": "oss://other/b.mov"}]}

EXACT = [
    case({"source": ["acs.imm"]}, {"source": "acs.imm"}, True, "string-equal"),
    case({"source": ["ACS.IMM"]}, {"source": "acs.imm"}, False, "string-case-sensitive"),
    case({"status": ["failed", "suspended"]}, {"status": "suspended"}, True, "or-inside-list"),
    case({"status": ["failed", "suspended"]}, {"status": "running"}, False, "or-none-matches"),
    case(
        {"source": ["acs.imm"], "kind": ["batch"]},
        {"source": "acs.imm", "kind": "batch"},
        True,
        "and-all",
    ),
    case(
        {"source": ["acs.imm"], "kind": ["batch"]},
        {"source": "acs.imm", "kind": "task"},
        False,
        "and-one-fails",
    ),
    case({"n": [5]}, {"n": 5}, True, "number"),
    case({"n": [5]}, {"n": 5.0}, True, "number-by-value"),
    case({"n": [5.0]}, {"n": 5}, True, "float-pattern-int-value"),
    case({"n": [5]}, {"n": "5"}, False, "number-not-numeric-string"),
    case({"n": ["5"]}, {"n": 5}, False, "string-not-number"),
    case({"b": [True]}, {"b": 1}, False, "true-is-not-1"),
    case({"n": [1]}, {"n": True}, False, "1-is-not-true"),
    case({"n": [0]}, {"n": False}, False, "0-is-not-false"),
    case({"b": [False]}, {"b": False}, True, "false"),
    case({"x": [None]}, {"x": None}, True, "null"),
    case({"x": [None]}, {}, False, "null-is-not-missing"),
    case({"x": [None]}, {"x": ""}, False, "null-is-not-empty-string"),
    case({"x": [""]}, {"x": ""}, True, "empty-string"),
    case({"x": [""]}, {"x": None}, False, "empty-string-is-not-null"),
    case({"x": ["a"]}, {}, False, "missing-key"),
    case({"tags": ["legal"]}, {"tags": {"team": "legal"}}, False, "value-vs-object"),
    case({}, {"anything": 1}, True, "empty-pattern-matches-all"),
]

ARRAYS = [
    case({"x": ["b"]}, {"x": ["a", "b"]}, True, "any-element"),
    case({"x": ["c"]}, {"x": ["a", "b"]}, False, "no-element"),
    case({"x": ["c"]}, {"x": [["a"], ["b", ["c"]]]}, True, "arrays-of-arrays-flattened"),
    case({"x": ["a"]}, {"x": []}, False, "empty-array-has-no-value"),
    case({"x": [{"exists": False}]}, {"x": []}, True, "empty-array-counts-as-missing"),
    case({"x": [{"exists": True}]}, {"x": []}, False, "empty-array-does-not-exist"),
    case({"x": [{"exists": True}]}, {"x": [None]}, True, "array-of-null-exists"),
    case({"x": ["a"]}, {"x": [{"k": "a"}]}, False, "array-of-objects-at-a-leaf"),
    case({"x": [{"anything-but": "a"}]}, {"x": ["a", "b"]}, True, "anything-but-any-element"),
    case(
        {"x": [{"anything-but": ["a", "b"]}]}, {"x": ["a", "b"]}, False, "anything-but-all-excluded"
    ),
    case({"n": [{"numeric": [">", 10]}]}, {"n": [1, 20]}, True, "numeric-any-element"),
    case({"x": [{"prefix": "b"}]}, {"x": [1, None, "bc"]}, True, "prefix-mixed-array"),
    case(
        {"data": {"Sources": {"URI": [{"prefix": "oss://media-in/"}]}}},
        {"data": SOURCES},
        True,
        "nested-over-array-of-objects",
    ),
    case(
        {"d": {"items": {"a": ["1"], "b": ["2"]}}},
        {"d": {"items": [{"a": "1", "b": "x"}, {"a": "x", "b": "2"}]}},
        False,
        "nested-fields-never-across-elements",
    ),
    case(
        {"d": {"items": {"a": ["1"], "b": ["2"]}}},
        {"d": {"items": [{"a": "x"}, {"a": "1", "b": "2"}]}},
        True,
        "nested-fields-in-one-element",
    ),
    case(
        {"d": {"k": [{"exists": False}]}}, {"d": ["a", "b"]}, True, "nested-over-array-of-scalars"
    ),
    case(
        {"d": {"k": [{"exists": False}]}}, {"d": [{"k": 1}, "b"]}, False, "nested-scalars-skipped"
    ),
    case({"d": {"k": [{"exists": False}]}}, {"d": []}, True, "nested-over-empty-array"),
]

STRINGS = [
    case({"type": [{"prefix": "imm:Batch"}]}, {"type": "imm:Batch:Notification"}, True, "prefix"),
    case({"type": [{"prefix": "imm:Batch"}]}, {"type": "imm:Task:Batch"}, False, "prefix-miss"),
    case({"type": [{"prefix": "imm:"}]}, {"type": "IMM:Task"}, False, "prefix-case-sensitive"),
    case({"x": [{"prefix": ""}]}, {"x": "abc"}, True, "empty-prefix-any-string"),
    case({"x": [{"prefix": ""}]}, {"x": None}, False, "empty-prefix-not-null"),
    case({"n": [{"prefix": "1"}]}, {"n": 12}, False, "prefix-on-number"),
    case({"b": [{"prefix": "t"}]}, {"b": True}, False, "prefix-on-bool"),
    case({"x": [{"prefix": "a"}]}, {"x": {"a": "a"}}, False, "prefix-on-object"),
    case({"x": [{"prefix": "a"}]}, {}, False, "prefix-on-missing"),
    case(
        {"x": [{"prefix": {"equals-ignore-case": "IMM:"}}]},
        {"x": "imm:Batch"},
        True,
        "prefix-ignore-case",
    ),
    case({"x": [{"suffix": ".mov"}]}, {"x": "oss://b/raw/a.mov"}, True, "suffix"),
    case({"x": [{"suffix": ".mov"}]}, {"x": "oss://b/raw/a.MOV"}, False, "suffix-case-sensitive"),
    case(
        {"x": [{"suffix": {"equals-ignore-case": ".mov"}}]},
        {"x": "a.MOV"},
        True,
        "suffix-ignore-case",
    ),
    case({"n": [{"suffix": "5"}]}, {"n": 15}, False, "suffix-on-number"),
    case(
        {"message": [{"contains": "timeline"}]},
        {"message": "The timeline is bad"},
        True,
        "contains",
    ),
    case({"message": [{"contains": "clip"}]}, {"message": "The timeline"}, False, "contains-miss"),
    case({"n": [{"contains": "2"}]}, {"n": 123}, False, "contains-on-number"),
    case({"x": [{"contains": "b"}]}, {"x": ["aaa", "abc"]}, True, "contains-array"),
    case({"x": [{"equals-ignore-case": "Failed"}]}, {"x": "FAILED"}, True, "equals-ignore-case"),
    case(
        {"x": [{"equals-ignore-case": "Failed"}]}, {"x": "Fail"}, False, "equals-ignore-case-miss"
    ),
    case({"x": [{"equals-ignore-case": "1"}]}, {"x": 1}, False, "equals-ignore-case-on-number"),
    case(
        {"object_path": [{"prefix": "oss://media-in/", "suffix": ".mov"}]},
        {"object_path": "oss://media-in/raw/clip.mov"},
        True,
        "prefix-and-suffix-in-one-object",
    ),
    case(
        {"object_path": [{"prefix": "oss://media-in/", "suffix": ".mov"}]},
        {"object_path": "oss://media-in/raw/clip.mp4"},
        False,
        "prefix-and-suffix-both-needed",
    ),
]

ANYTHING_BUT = [
    case({"s": [{"anything-but": "failed"}]}, {"s": "running"}, True, "string-other"),
    case({"s": [{"anything-but": "failed"}]}, {"s": "failed"}, False, "string-same"),
    case({"n": [{"anything-but": 123}]}, {"n": 124}, True, "number-other"),
    case({"n": [{"anything-but": 123}]}, {"n": 123.0}, False, "number-same-by-value"),
    case({"n": [{"anything-but": "5"}]}, {"n": 5}, True, "number-is-not-the-string"),
    case({"n": [{"anything-but": 5}]}, {"n": "5"}, True, "string-is-not-the-number"),
    case({"s": [{"anything-but": ["failed", "suspended"]}]}, {"s": "running"}, True, "list-other"),
    case(
        {"s": [{"anything-but": ["failed", "suspended"]}]}, {"s": "suspended"}, False, "list-same"
    ),
    case({"s": [{"anything-but": [1, "one"]}]}, {"s": 1}, False, "mixed-list"),
    case({"s": [{"anything-but": "a"}]}, {}, False, "missing-never-matches"),
    case({"s": [{"anything-but": "a"}]}, {"s": None}, True, "null-is-a-value"),
    case({"s": [{"anything-but": "a"}]}, {"s": False}, True, "bool-is-a-value"),
    case({"s": [{"anything-but": "a"}]}, {"s": {"k": "v"}}, False, "object-is-not-a-value"),
    case({"s": [{"anything-but": "a"}]}, {"s": []}, False, "empty-array-is-missing"),
    case(
        {"t": [{"anything-but": {"prefix": "imm:Task"}}]},
        {"t": "imm:Batch:X"},
        True,
        "prefix-other",
    ),
    case(
        {"t": [{"anything-but": {"prefix": "imm:Task"}}]}, {"t": "imm:Task:X"}, False, "prefix-same"
    ),
    case(
        {"t": [{"anything-but": {"prefix": "imm:"}}]}, {"t": 7}, True, "prefix-number-is-not-string"
    ),
    case({"t": [{"anything-but": {"prefix": "imm:"}}]}, {}, False, "prefix-missing"),
    case({"t": [{"anything-but": {"prefix": ["a", "b"]}}]}, {"t": "bz"}, False, "prefix-list"),
    case({"f": [{"anything-but": {"suffix": ".tmp"}}]}, {"f": "a.mov"}, True, "suffix-other"),
    case({"f": [{"anything-but": {"suffix": ".tmp"}}]}, {"f": "a.tmp"}, False, "suffix-same"),
    case(
        {"s": [{"anything-but": {"equals-ignore-case": ["Failed"]}}]},
        {"s": "FAILED"},
        False,
        "ic-same",
    ),
    case(
        {"s": [{"anything-but": {"equals-ignore-case": "Failed"}}]}, {"s": "ok"}, True, "ic-other"
    ),
    case({"s": [{"anything-but": "a"}, "a"]}, {"s": "a"}, True, "or-with-exact"),
]

NUMERIC = [
    case({"n": [{"numeric": [">", 10]}]}, {"n": 10}, False, "gt-boundary"),
    case({"n": [{"numeric": [">", 10]}]}, {"n": 10.5}, True, "gt"),
    case({"n": [{"numeric": [">=", 10]}]}, {"n": 10}, True, "ge-boundary"),
    case({"n": [{"numeric": ["<", 10]}]}, {"n": 10}, False, "lt-boundary"),
    case({"n": [{"numeric": ["<", 10]}]}, {"n": -3}, True, "lt"),
    case({"n": [{"numeric": ["<=", 10]}]}, {"n": 10}, True, "le-boundary"),
    case({"n": [{"numeric": ["=", 5]}]}, {"n": 5.0}, True, "eq"),
    case({"n": [{"numeric": ["=", 5]}]}, {"n": 5.1}, False, "eq-miss"),
    case({"n": [{"numeric": [">", 0, "<=", 5]}]}, {"n": 0}, False, "range-low-open"),
    case({"n": [{"numeric": [">", 0, "<=", 5]}]}, {"n": 5}, True, "range-high-closed"),
    case({"n": [{"numeric": [">", 0, "<=", 5]}]}, {"n": 5.5}, False, "range-above"),
    case({"n": [{"numeric": ["<=", 5, ">", 0]}]}, {"n": 3}, True, "range-upper-first"),
    case({"n": [{"numeric": [">=", 5, "<=", 5]}]}, {"n": 5}, True, "range-one-point"),
    case({"n": [{"numeric": [">", 10]}]}, {"n": "12"}, False, "numeric-string-never"),
    case({"n": [{"numeric": [">", 0]}]}, {"n": True}, False, "bool-is-not-a-number"),
    case({"n": [{"numeric": [">", 0]}]}, {"n": None}, False, "null"),
    case({"n": [{"numeric": [">", 0]}]}, {}, False, "missing"),
    case({"n": [{"numeric": [">", 0]}]}, {"n": float("nan")}, False, "nan-value"),
    case({"n": [{"numeric": ["<", 1e9]}]}, {"n": 10**30}, False, "huge-int"),
    case({"n": [{"numeric": [">", 1e9]}]}, {"n": 10**30}, True, "huge-int-above"),
    case(
        {"statistic": {"submit_failure": [{"numeric": [">=", 10]}]}},
        view(statistic={"submit_success": 1180, "submit_failure": 14, "skip_files": 6}),
        True,
        "statistic-nested",
    ),
    case(
        {"statistic": {"submit_failure": [{"numeric": [">=", 10]}]}},
        view(statistic=None),
        False,
        "statistic-null",
    ),
]

EXISTS = [
    case({"x": [{"exists": True}]}, {"x": "a"}, True, "true-present"),
    case({"x": [{"exists": True}]}, {"x": ""}, True, "true-empty-string"),
    case({"x": [{"exists": True}]}, {}, False, "true-missing"),
    case({"x": [{"exists": True}]}, {"x": None}, True, "true-null-is-a-value"),
    case({"x": [{"exists": False}]}, {}, True, "false-missing"),
    case({"x": [{"exists": False}]}, {"x": "a"}, False, "false-present"),
    case({"x": [{"exists": False}]}, {"x": None}, False, "false-null-is-a-value"),
    case({"x": [{"exists": True}]}, {"x": {"k": 1}}, True, "true-object"),
    case({"x": [{"exists": False}]}, {"x": {"k": 1}}, False, "false-object"),
    case({"statistic": [{"exists": True}]}, view(statistic=None), True, "view-keys-always-exist"),
    case({"batch_key": [None]}, view(batch_key=None), True, "no-batch-is-null"),
    case({"tags": {"team": [{"exists": False}]}}, view(tags={}), True, "false-under-empty-object"),
    case({"tags": {"team": [{"exists": False}]}}, {}, True, "false-under-missing-parent"),
    case({"tags": {"team": [{"exists": False}]}}, {"tags": None}, True, "false-under-null-parent"),
    case({"tags": {"team": [{"exists": False}]}}, {"tags": "x"}, True, "false-under-string-parent"),
    case({"tags": {"team": [{"exists": True}]}}, {"tags": "x"}, False, "true-under-string-parent"),
    case({"x": [{"exists": True}, {"exists": False}]}, {}, True, "both-missing"),
    case({"x": [{"exists": True}, {"exists": False}]}, {"x": 1}, True, "both-present"),
    case({"x": ["a", {"exists": False}]}, {}, True, "or-exact-missing"),
    case({"x": ["a", {"exists": False}]}, {"x": "a"}, True, "or-exact-equal"),
    case({"x": ["a", {"exists": False}]}, {"x": "b"}, False, "or-exact-other"),
]

CIDR = [
    case({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.0.33"}, True, "in"),
    case({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.1.1"}, False, "out"),
    case({"ip": [{"cidr": "10.0.0.5/24"}]}, {"ip": "10.0.0.200"}, True, "host-bits-ignored"),
    case({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "not an ip"}, False, "not-an-address"),
    case({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.0.1/32"}, False, "network-value"),
    case({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": 167772161}, False, "number-value"),
    case({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db8::1"}, True, "ipv6"),
    case({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "2001:db8::1"}, False, "v4-pattern-v6-value"),
]

NESTED = [
    case({"tags": {"team": ["legal"]}}, view(tags={"team": "legal"}), True, "tags"),
    case({"tags": {"team": ["legal"]}}, view(tags={"team": "ops"}), False, "tags-other"),
    case({"tags": {"team": ["legal"]}}, {"tags": "legal"}, False, "parent-not-an-object"),
    case({"tags": {"team": ["legal"]}}, {}, False, "parent-missing"),
    case(
        {"data": {"a": {"b": {"c": {"d": ["x"]}}}}},
        {"data": {"a": {"b": {"c": {"d": "x"}}}}},
        True,
        "deep",
    ),
    case(
        {"data": {"a": {"b": {"c": {"d": ["x"]}}}}},
        {"data": {"a": {"b": "c"}}},
        False,
        "deep-cut-short",
    ),
    case(
        {"source": ["acs.imm"], "tags": {"team": ["legal"]}, "statistic": {"skip_files": [0]}},
        view(tags={"team": "legal"}, statistic={"skip_files": 0}),
        True,
        "and-across-levels",
    ),
]


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    EXACT + ARRAYS + STRINGS + ANYTHING_BUT + NUMERIC + EXISTS + CIDR + NESTED,
)
def test_matching(pattern: dict[str, Any], event: Any, expected: bool) -> None:
    assert matches(pattern, event) is expected


@pytest.mark.parametrize("event", [None, "text", 7, ["source"], {("a",): 1}])
def test_non_object_events_match_like_empty_ones(event: Any) -> None:
    assert matches({"source": ["acs.imm"]}, event) is False
    assert matches({"source": [{"exists": False}]}, event) is True


@pytest.mark.parametrize(
    ("name", "ingress", "pattern", "expected"),
    [
        (
            "imm-batch-notification.json",
            "eventbridge",
            {"kind": ["batch"], "tags": {"team": [{"prefix": "legal"}]}},
            True,
        ),
        (
            "imm-batch-notification.json",
            "eventbridge",
            {"statistic": {"submit_failure": [{"numeric": [">=", 10]}]}},
            True,
        ),
        (
            "imm-batch-notification.json",
            "eventbridge",
            {"data": {"Input": {"OSS": {"Bucket": ["docs-in"]}}}},
            True,
        ),
        (
            "imm-task-mns-queue.json",
            "mns-queue",
            {"data": {"Sources": {"URI": [{"suffix": ".mov"}]}}},
            True,
        ),
        (
            "imm-task-mns-queue.json",
            "mns-queue",
            {"statistic": [None], "task_type": ["MediaConvert"]},
            True,
        ),
        (
            "ice-produce-media-complete.json",
            "ice-http",
            {"source": ["acs.ice"], "status": ["failed"]},
            True,
        ),
        (
            "ice-produce-media-complete.json",
            "ice-http",
            {"code": [{"prefix": "InvalidParameter"}]},
            True,
        ),
        ("ice-produce-media-complete.json", "ice-http", {"region": [{"exists": False}]}, False),
    ],
    ids=[
        "batch-tag",
        "batch-statistic",
        "batch-data",
        "task-sources",
        "task-no-statistic",
        "ice-failed",
        "ice-code",
        "region-null-exists",
    ],
)
def test_real_views(name: str, ingress: Any, pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, sample_view(name, ingress)) is expected


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        bad(
            {"statistic": {"submit_failure": [{"gte": 10}]}},
            'match.statistic.submit_failure[0]: unknown operator "gte"',
            id="unknown-operator",
        ),
        bad(
            {"x": ["a", {"prefx": "b"}]},
            'match.x[1]: unknown operator "prefx"',
            id="unknown-operator-index",
        ),
        bad(
            {"data": {"Sources": {"URI": [{"sufix": ".mov"}]}}},
            'match.data.Sources.URI[0]: unknown operator "sufix"',
            id="unknown-operator-deep",
        ),
        bad(
            {"source": "acs.imm"},
            'match.source: expected a list of values (such as ["acs.imm"])',
            id="bare-string-leaf",
        ),
        bad({"n": 5}, "match.n: expected a list of values (such as [5])", id="bare-number-leaf"),
        bad({"source": []}, "match.source: an empty list matches nothing", id="empty-list"),
        bad({"tags": {}}, "match.tags: an empty object", id="empty-nested-object"),
        bad(
            {"x": [["a"]]},
            "match.x[0]: a list is neither a value nor an operator",
            id="nested-list",
        ),
        bad({"x": [{}]}, "match.x[0]: an empty operator object", id="empty-operator"),
        bad(
            {"x": [{"exists": "yes"}]},
            "match.x[0].exists: expected true or false",
            id="exists-not-bool",
        ),
        bad({"x": [{"exists": 1}]}, "match.x[0].exists: expected true or false", id="exists-one"),
        bad(
            {"x": [{"exists": True, "prefix": "a"}]},
            "match.x[0]: exists cannot be combined",
            id="exists-combined",
        ),
        bad(
            {"x": [{"prefix": 5}]},
            "match.x[0].prefix: expected a string, got 5",
            id="prefix-number",
        ),
        bad(
            {"x": [{"prefix": {"eq": "a"}}]},
            "match.x[0].prefix: expected a string or",
            id="prefix-bad-object",
        ),
        bad(
            {"x": [{"suffix": {"equals-ignore-case": 1}}]},
            "match.x[0].suffix.equals-ignore-case: expected a string",
            id="suffix-ic-number",
        ),
        bad(
            {"x": [{"contains": None}]},
            "match.x[0].contains: expected a string, got None",
            id="contains-null",
        ),
        bad(
            {"x": [{"equals-ignore-case": ["a"]}]},
            "match.x[0].equals-ignore-case: expected a string",
            id="eic-list",
        ),
        bad(
            {"x": [{"numeric": [">", 10, "<"]}]},
            "match.x[0].numeric: expected [op, n] or [op, n, op, n]",
            id="numeric-odd",
        ),
        bad(
            {"x": [{"numeric": ">= 10"}]},
            "match.x[0].numeric: expected [op, n]",
            id="numeric-string",
        ),
        bad(
            {"x": [{"numeric": ["gte", 10]}]},
            'match.x[0].numeric[0]: unknown comparison "gte"',
            id="numeric-op",
        ),
        bad(
            {"x": [{"numeric": [">", "10"]}]},
            'match.x[0].numeric[1]: expected a number, got "10"',
            id="numeric-bound-string",
        ),
        bad(
            {"x": [{"numeric": [">", True]}]},
            "match.x[0].numeric[1]: expected a number, got True",
            id="numeric-bound-bool",
        ),
        bad(
            {"x": [{"numeric": [">", float("inf")]}]},
            "match.x[0].numeric[1]: expected a finite number",
            id="numeric-inf",
        ),
        bad(
            {"x": [{"numeric": [">", 1, ">", 5]}]},
            "match.x[0].numeric: a range needs one of >, >=",
            id="two-lower",
        ),
        bad(
            {"x": [{"numeric": ["=", 1, "<", 5]}]},
            "match.x[0].numeric: a range needs one of",
            id="equal-in-range",
        ),
        bad(
            {"x": [{"numeric": [">", 5, "<", 1]}]},
            "match.x[0].numeric: the range is empty",
            id="inverted-range",
        ),
        bad(
            {"x": [{"numeric": [">", 5, "<=", 5]}]},
            "match.x[0].numeric: the range is empty",
            id="open-point",
        ),
        bad(
            {"x": [{"cidr": "10.0.0.0/33"}]},
            "match.x[0].cidr: '10.0.0.0/33' is not an IP network",
            id="cidr-bad",
        ),
        bad({"x": [{"cidr": 10}]}, "match.x[0].cidr: expected a string", id="cidr-number"),
        bad(
            {"x": [{"anything-but": []}]},
            "match.x[0].anything-but: an empty list excludes nothing",
            id="ab-empty",
        ),
        bad(
            {"x": [{"anything-but": None}]},
            "match.x[0].anything-but: excludes strings and numbers only",
            id="ab-null",
        ),
        bad(
            {"x": [{"anything-but": [True]}]},
            "match.x[0].anything-but: excludes strings and numbers only",
            id="ab-bool",
        ),
        bad(
            {"x": [{"anything-but": {"wildcard": "*"}}]},
            "match.x[0].anything-but: expected one of prefix, suffix",
            id="ab-unknown",
        ),
        bad(
            {"x": [{"anything-but": {"prefix": "a", "suffix": "b"}}]},
            "match.x[0].anything-but: expected one of",
            id="ab-two",
        ),
        bad(
            {"x": [{"anything-but": {"prefix": []}}]},
            "match.x[0].anything-but.prefix: an empty list",
            id="ab-prefix-empty",
        ),
        bad(
            {"x": [{"anything-but": [float("nan")]}]},
            "match.x[0].anything-but[0]: expected a finite number",
            id="ab-nan",
        ),
        bad({"x": [float("nan")]}, "match.x[0]: expected a finite number", id="nan-value"),
        bad({1: ["a"]}, "match: field names must be strings, got 1", id="key-not-string"),
        bad({"x": [{1: "a"}]}, 'match.x[0]: unknown operator "1"', id="operator-not-string"),
    ],
)
def test_validation_names_the_path(pattern: dict[Any, Any], message: str) -> None:
    with pytest.raises(PatternError) as raised:
        compile_pattern(pattern)
    assert str(raised.value).startswith(message)
    assert isinstance(raised.value, ConfigError)


@pytest.mark.parametrize("pattern", [[], "source", None, [{"source": ["a"]}]])
def test_a_pattern_is_an_object(pattern: Any) -> None:
    with pytest.raises(PatternError, match=r"^match: a pattern must be an object"):
        compile_pattern(pattern)


def test_path_prefix_is_the_callers() -> None:
    with pytest.raises(PatternError, match=r"^alerts\.rules\[2\]\.match\.x: "):
        compile_pattern({"x": "a"}, path="alerts.rules[2].match")


def test_nesting_is_bounded() -> None:
    pattern: dict[str, Any] = {"x": ["a"]}
    for _ in range(40):
        pattern = {"d": pattern}
    with pytest.raises(PatternError, match="nest at most 32 levels"):
        compile_pattern(pattern)


def test_the_source_is_kept_for_display() -> None:
    pattern = compile_pattern({"source": ["acs.imm"]})
    assert pattern.source == {"source": ["acs.imm"]}
    assert repr(pattern) == "Pattern({'source': ['acs.imm']})"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"statu": ["failed"]}, "match.statu: not a key of the normalized view"),
        ({"Source": ["acs.imm"]}, "match.Source: not a key of the normalized view"),
        ({"statistic": {"failures": [1]}}, "match.statistic.failures: not a statistic key"),
    ],
    ids=["typo", "case", "statistic-key"],
)
def test_view_keys_are_checked(pattern: dict[str, Any], message: str) -> None:
    with pytest.raises(PatternError, match=f"^{message}"):
        check_view_keys(pattern)


def test_free_form_view_keys_are_not_checked() -> None:
    check_view_keys({"tags": {"anything": ["x"]}, "data": {"Any": {"Thing": ["x"]}}})
    check_view_keys({"statistic": [{"exists": True}], "source": ["acs.imm"]})


# -- properties ---------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["acs.imm", "10.0.0.7", "imm:Batch:Notification", "", "2001:db8::1"])
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["a", "b", "team", "URI"]) | st.text(max_size=4), children, max_size=4
        )
    ),
    max_leaves=20,
)
_KEYS = st.sampled_from(["source", "type", "status", "statistic", "tags", "data", "x", "n"])
EVENTS = st.dictionaries(_KEYS | st.text(max_size=5), _JSON, max_size=8)

_TEXT = st.text(max_size=6)
_NUMBER = st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False)
_OPERATORS = st.one_of(
    st.builds(lambda s: {"prefix": s}, _TEXT),
    st.builds(lambda s: {"suffix": {"equals-ignore-case": s}}, _TEXT),
    st.builds(lambda s: {"contains": s}, _TEXT),
    st.builds(lambda s: {"equals-ignore-case": s}, _TEXT),
    st.builds(lambda v: {"anything-but": v}, _TEXT | _NUMBER | st.lists(_TEXT, min_size=1)),
    st.builds(lambda s: {"anything-but": {"prefix": s}}, _TEXT),
    st.builds(lambda n: {"numeric": [">=", n]}, _NUMBER),
    st.builds(lambda n: {"numeric": [">", n, "<=", n + 10]}, st.integers(-100, 100)),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.just({"cidr": "10.0.0.0/8"}),
    st.just({"prefix": "a", "suffix": "z"}),
)
_LEAF = st.lists(st.none() | st.booleans() | _NUMBER | _TEXT | _OPERATORS, min_size=1, max_size=4)
PATTERNS = st.recursive(
    st.dictionaries(_KEYS, _LEAF, min_size=1, max_size=3),
    lambda children: st.dictionaries(_KEYS, children | _LEAF, min_size=1, max_size=3),
    max_leaves=8,
)


@PROPERTY
@given(pattern=PATTERNS, event=EVENTS)
def test_matching_never_raises(pattern: dict[str, Any], event: dict[str, Any]) -> None:
    assert matches(pattern, event) in (True, False)


@PROPERTY
@given(candidate=_JSON)
def test_compiling_raises_only_pattern_errors(candidate: Any) -> None:
    try:
        compiled = compile_pattern(candidate)
    except PatternError:
        return
    assert compiled.matches(candidate) in (True, False)


@PROPERTY
@given(value=_JSON)
def test_exists_true_and_false_are_complements(value: Any) -> None:
    event = {"x": value}
    assert matches({"x": [{"exists": True}]}, event) is not matches(
        {"x": [{"exists": False}]}, event
    )


@PROPERTY
@given(value=st.none() | st.booleans() | _NUMBER | _TEXT)
def test_a_value_matches_itself_and_not_anything_but_itself(value: Any) -> None:
    assert matches({"x": [value]}, {"x": value})
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        assert not matches({"x": [{"anything-but": value}]}, {"x": value})
        assert not matches({"x": [{"anything-but": [value]}]}, {"x": [value, value]})


def test_patterns_compare_by_content() -> None:
    assert compile_pattern({"a": ["x"], "b": [1]}) == compile_pattern({"b": [1], "a": ["x"]})
    assert compile_pattern({"b": [1]}) != compile_pattern({"b": [True]})
    assert compile_pattern({"b": [1]}) != {"b": [1]}


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"status": ["fialed"]}, r"match.status\[0\]: 'fialed' is never a value here "
                                 r"\(did you mean 'failed'\?\); the values are ready, running"),
        ({"kind": ["batch", "tasks"]}, r"match.kind\[1\]: 'tasks' .* \(did you mean 'task'\?\)"),
        ({"ingress": [{"anything-but": ["replay", "mns_queue"]}]},
         r"match.ingress\[0\]: 'mns_queue' .* \(did you mean 'mns-queue'\?\)"),
        ({"status": [{"equals-ignore-case": "OK"}]},
         r"match.status\[0\]: 'OK' is never a value here; "),
    ],
    ids=["typo", "plural", "anything-but", "no close word"],
)  # fmt: skip
def test_closed_vocabularies_are_checked(pattern: dict[str, Any], message: str) -> None:
    with pytest.raises(PatternError, match=f"^{message}"):
        check_view_keys(pattern)


def test_every_value_of_the_vocabularies_passes() -> None:
    check_view_keys({"status": ["failed", "firing", {"equals-ignore-case": "FAILED"}],
                     "kind": ["ice_job", "alert", "digest", {"prefix": "ice"}],
                     "ingress": [{"anything-but": "replay"}, "mns-push"]})  # fmt: skip
