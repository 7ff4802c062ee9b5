from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from batchrelay.errors import ConfigError
from batchrelay.routing import RouteConfig, RouteTree, RoutingConfig, parse_duration

from .conftest import PROPERTY, routing, sample_view, tree, utc, view

NOON = utc(2026, 11, 20, 4)  # 12:00 in Shanghai, a Friday

# The example of the report: IMM batch failures to DingTalk grouped by batch, everything
# from ICE to a webhook, DingTalk muted at night in Shanghai.
EXAMPLE = """
route:
  receiver: ops-webhook
  group_by: [batch_key]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - name: imm-batch-failures
      match:
        source: [acs.imm]
        kind: [batch, trigger]
        status: [failed, suspended]
      receiver: dingtalk-imm
      group_wait: 10s
      mute_time_intervals: [night]
    - name: imm-submit-failures
      match:
        source: [acs.imm]
        statistic: {submit_failure: [{numeric: [">=", 10]}]}
      receiver: dingtalk-imm
      mute_time_intervals: [night]
    - name: ice
      match: {source: [acs.ice]}
      receiver: ice-webhook
      group_by: [type, batch_key]
time_intervals:
  - name: night
    time_intervals:
      - times:
          - {start_time: "00:00", end_time: "08:00"}
          - {start_time: "22:00", end_time: "24:00"}
        location: Asia/Shanghai
"""


def routes_of(route_tree: RouteTree, event: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m.route, m.receiver) for m in route_tree.match(event, NOON)]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            view(kind="batch", status="failed", batch_key="b-1"),
            [("root/0", "dingtalk-imm")],
            id="imm-batch-failed",
        ),
        pytest.param(
            view(kind="batch", status="running", statistic={"submit_failure": 14}),
            [("root/1", "dingtalk-imm")],
            id="imm-batch-submit-failures",
        ),
        pytest.param(
            view(kind="batch", status="running", statistic={"submit_failure": 2}),
            [("root", "ops-webhook")],
            id="imm-batch-healthy-goes-to-root",
        ),
        pytest.param(view(kind="task"), [("root", "ops-webhook")], id="imm-task-goes-to-root"),
        pytest.param(
            view(source="acs.ice", kind="ice_job", status="failed"),
            [("root/2", "ice-webhook")],
            id="ice-job",
        ),
        pytest.param(view(source="acs.oss"), [("root", "ops-webhook")], id="unknown-source"),
        pytest.param({}, [("root", "ops-webhook")], id="empty-view"),
    ],
)
def test_example_routes(event: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert routes_of(tree(EXAMPLE), event) == expected


def test_example_with_real_views() -> None:
    example = tree(EXAMPLE)
    ice = sample_view("ice-produce-media-complete.json", "ice-http")
    batch = sample_view("imm-batch-notification.json", "eventbridge")
    assert routes_of(example, ice) == [("root/2", "ice-webhook")]
    assert routes_of(example, batch) == [("root/1", "dingtalk-imm")]  # SubmitFailure 14


def test_example_timers_and_mute() -> None:
    example = tree(EXAMPLE)
    event = view(kind="batch", status="failed", batch_key="b-1")
    [at_noon] = example.match(event, NOON)
    assert (at_noon.group_wait, at_noon.group_interval, at_noon.repeat_interval) == (10, 300, 14400)
    assert at_noon.muted is False
    [at_night] = example.match(event, utc(2026, 11, 20, 15))  # 23:00 in Shanghai
    assert at_night.muted is True
    assert at_night.group_key == at_noon.group_key


# -- tree semantics -----------------------------------------------------------------------

CONTINUE = """
route:
  receiver: default
  routes:
    - {name: a, match: {tags: {a: ["1"]}}, receiver: ra, continue: true}
    - {name: b, match: {tags: {b: ["1"]}}, receiver: rb}
    - {name: c, match: {tags: {c: ["1"]}}, receiver: rc}
"""


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"a": "1", "b": "1", "c": "1"}, ["ra", "rb"]),
        ({"a": "1", "c": "1"}, ["ra", "rc"]),
        ({"b": "1", "c": "1"}, ["rb"]),
        ({"c": "1"}, ["rc"]),
        ({"a": "1"}, ["ra"]),
        ({}, ["default"]),
    ],
    ids=["a-continues-b-stops", "a-continues-to-c", "b-stops", "c-only", "a-only", "none"],
)
def test_continue(tags: dict[str, str], expected: list[str]) -> None:
    matches = tree(CONTINUE).match(view(tags=tags), NOON)
    assert [m.receiver for m in matches] == expected


NESTED = """
route:
  receiver: default
  routes:
    - match: {source: [acs.imm]}
      receiver: imm
      routes:
        - {match: {kind: [batch]}, receiver: imm-batch}
        - match: {kind: [task]}
          routes:
            - {match: {status: [failed]}, receiver: imm-task-failed}
    - match: {source: [acs.imm]}
      receiver: never-reached
    - match: {source: [acs.ice], kind: [ice_batch]}
      receiver: ice-batch
"""


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (view(kind="batch"), [("root/0/0", "imm-batch")]),
        (view(kind="task", status="failed"), [("root/0/1/0", "imm-task-failed")]),
        (view(kind="task", status="running"), [("root/0/1", "imm")]),  # inherits "imm"
        (view(kind="filemeta"), [("root/0", "imm")]),
        (view(source="acs.ice", kind="ice_batch"), [("root/2", "ice-batch")]),
        (view(source="acs.ice", kind="ice_job"), [("root", "default")]),
    ],
    ids=[
        "grandchild",
        "great-grandchild",
        "child-when-no-grandchild-matches",
        "parent-when-no-child-matches",
        "second-branch",
        "root-default",
    ],
)
def test_nested_routes(event: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert routes_of(tree(NESTED), event) == expected


def test_a_child_is_only_tried_below_a_matching_parent() -> None:
    route_tree = tree("""
route:
  receiver: default
  routes:
    - match: {source: [acs.ice]}
      receiver: ice
      routes:
        - {match: {kind: [batch]}, receiver: batch-under-ice}
""")
    assert routes_of(route_tree, view(kind="batch")) == [("root", "default")]


INHERIT = """
route:
  receiver: default
  group_by: [batch_key]
  group_wait: 1m
  repeat_interval: 1h
  routes:
    - match: {source: [acs.imm]}
      group_interval: 10m
      mute_time_intervals: [always]
      routes:
        - {match: {kind: [batch]}, receiver: batches, group_by: [tags.team]}
        - {match: {kind: [task]}, group_by: []}
        - {match: {kind: [filemeta]}, group_by: ["..."], repeat_interval: 0.5}
time_intervals:
  - name: always
    time_intervals: [{}]
"""


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("batch", ("root/0/0", "batches", ("tags.team",), 60, 600, 3600, False)),
        ("task", ("root/0/1", "default", (), 60, 600, 3600, False)),
        ("filemeta", ("root/0/2", "default", ("...",), 60, 600, 0.5, False)),
        ("trigger", ("root/0", "default", ("batch_key",), 60, 600, 3600, True)),
    ],
)
def test_inheritance(kind: str, expected: tuple[Any, ...]) -> None:
    route_tree = tree(INHERIT)
    [match] = route_tree.match(view(kind=kind), NOON)
    node = next(node for node in route_tree.walk() if node.path == match.route)
    timers = (match.group_wait, match.group_interval, match.repeat_interval)
    assert (
        match.route,
        match.receiver,
        node.group_by,
        *timers,
        match.muted,
    ) == expected  # mute_time_intervals are not inherited, as in Alertmanager


def test_defaults_are_alertmanagers() -> None:
    [match] = tree("route: {receiver: r}").match(view(), NOON)
    assert (match.group_wait, match.group_interval, match.repeat_interval) == (30, 300, 14400)
    assert match.group_labels == ()
    assert match.muted is False
    assert (match.route, match.name) == ("root", None)


def test_walk_is_depth_first() -> None:
    assert [node.path for node in tree(NESTED).walk()] == [
        "root",
        "root/0",
        "root/0/0",
        "root/0/1",
        "root/0/1/0",
        "root/1",
        "root/2",
    ]


def test_active_time_intervals() -> None:
    route_tree = tree("""
route:
  receiver: default
  routes:
    - {receiver: office, active_time_intervals: [office-hours]}
time_intervals:
  - name: office-hours
    time_intervals:
      - {weekdays: ["monday:friday"], times: [{start_time: "09:00", end_time: "18:00"}],
         location: Asia/Shanghai}
""")
    [noon] = route_tree.match(view(), NOON)
    [evening] = route_tree.match(view(), utc(2026, 11, 20, 11))  # 19:00 in Shanghai
    assert (noon.receiver, noon.muted, evening.muted) == ("office", False, True)


# -- group keys ---------------------------------------------------------------------------

GROUPS = """
route:
  receiver: default
  group_by: [batch_key, tags.team]
  routes:
    - {name: named, match: {kind: [batch]}, receiver: chat}
    - {match: {kind: [task]}, receiver: chat}
    - {match: {kind: [trigger]}, receiver: chat, group_by: ["..."]}
    - {match: {kind: [filemeta]}, receiver: chat, group_by: [tags]}
"""


def key(kind: str = "task", **fields: Any) -> str:
    [match] = tree(GROUPS).match(view(kind=kind, **fields), NOON)
    return match.group_key


def test_group_key_shape() -> None:
    [match] = tree(GROUPS).match(view(kind="task", batch_key="b-1", tags={"team": "法务"}), NOON)
    assert match.group_labels == (("batch_key", "b-1"), ("tags.team", "法务"))
    assert json.loads(match.group_key) == [
        "root/1",
        "chat",
        [["batch_key", "b-1"], ["tags.team", "法务"]],
    ]
    assert "法务" in match.group_key  # readable, not \\u-escaped


def test_group_keys_are_stable_and_distinct() -> None:
    assert key(batch_key="b-1") == key(batch_key="b-1", event_id="other", status="failed")
    assert key(batch_key="b-1") != key(batch_key="b-2")
    assert key(batch_key="b-1", tags={"team": "a"}) != key(batch_key="b-1", tags={"team": "b"})
    assert key(batch_key=None) != key(batch_key="None")  # null stays null
    assert key(batch_key="b-1", tags={}) == key(batch_key="b-1", tags={"team": None})


def test_group_key_includes_route_and_receiver() -> None:
    # Same labels, same receiver, different routes: different groups.
    assert key("batch", batch_key="b-1") != key("task", batch_key="b-1")
    assert json.loads(key("batch", batch_key="b-1"))[0] == "named"  # a name replaces the path
    default = tree(GROUPS).match(view(kind="ice_job", batch_key="b-1"), NOON)[0].group_key
    assert json.loads(default)[:2] == ["root", "default"]


def test_group_by_all_gives_every_event_its_own_group() -> None:
    one, two = key("trigger", event_id="e-1"), key("trigger", event_id="e-2")
    assert one != two
    assert one == key("trigger", event_id="e-1", batch_key="other")  # redelivery: same group
    assert json.loads(one)[2] == [["event_id", "e-1"]]


def test_group_by_an_object_ignores_key_order() -> None:
    first = key("filemeta", tags={"a": "1", "b": "2"})
    assert first == key("filemeta", tags={"b": "2", "a": "1"})
    assert first != key("filemeta", tags={"a": "1"})


@PROPERTY
@given(
    batch_key=st.none() | st.text(max_size=10),
    team=st.none() | st.text(max_size=10),
    data=st.dictionaries(st.text(max_size=3), st.integers() | st.floats() | st.text(max_size=3)),
)
def test_group_keys_never_raise_and_are_json(
    batch_key: str | None, team: str | None, data: dict[str, Any]
) -> None:
    [match] = tree(GROUPS).match(view(batch_key=batch_key, tags={"team": team}, data=data), NOON)
    assert json.loads(match.group_key)[2] == [["batch_key", batch_key], ["tags.team", team]]


# -- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("4h", 14400),
        ("1h30m", 5400),
        ("1d", 86400),
        ("2w", 1209600),
        ("1y", 31536000),
        ("500ms", 0.5),
        ("1m30s500ms", 90.5),
        ("0", 0),
        ("0s", 0),
        (" 10s ", 10),
        ("45", 45),
        ("2.5", 2.5),
        (0, 0),
        (45, 45),
        (2.5, 2.5),
    ],
)
def test_parse_duration(value: Any, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    ["", "5x", "m", "1.5h", "-5s", "5m1h", "10 s", "s30", "inf", "nan", -1, -0.5, True, None, [30]],
)
def test_parse_duration_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


# -- validation ---------------------------------------------------------------------------


def bad(tree_yaml: str, message: str, id: str) -> Any:
    return pytest.param(tree_yaml, message, id=id)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        bad("route: {}", "route.receiver: the root route needs a receiver", "root-receiver"),
        bad(
            "route: {receiver: r, match: {source: [acs.imm]}}",
            "route.match: the root route matches every event",
            "root-match",
        ),
        bad(
            "route: {receiver: r, continue: true}",
            "route.continue: the root route",
            "root-continue",
        ),
        bad(
            "route: {receiver: r, mute_time_intervals: [n]}\n"
            "time_intervals: [{name: n, time_intervals: [{}]}]",
            "route: the root route cannot be muted",
            "root-muted",
        ),
        bad(
            "route: {receiver: r, routes: [{mute_time_intervals: [nights]}]}\n"
            "time_intervals: [{name: night, time_intervals: [{}]}]",
            "route.routes.0.mute_time_intervals: unknown time interval 'nights' (defined: night)",
            "unknown-mute",
        ),
        bad(
            "route: {receiver: r, routes: [{routes: [{active_time_intervals: [x]}]}]}",
            "route.routes.0.routes.0.active_time_intervals: unknown time interval 'x'",
            "unknown-active-nested",
        ),
        bad(
            "route: {receiver: r}\ntime_intervals: "
            "[{name: n, time_intervals: [{}]}, {name: n, time_intervals: [{}]}]",
            "time_intervals.1.name: 'n' is defined twice",
            "duplicate-interval",
        ),
        bad(
            "route: {receiver: r, routes: [{name: x}, {routes: [{name: x}]}]}",
            "route.routes.1.routes.0.name: 'x' is already the name of route.routes.0",
            "duplicate-route-name",
        ),
        bad("route: {receiver: r, routes: [{name: root}]}", "'root' is reserved", "name-root"),
    ],
)
def test_tree_validation(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        routing(text)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("route", "location", "message"),
    [
        ({"group_by": ["statu"]}, ("group_by",), "'statu' is not a key of the normalized view"),
        ({"group_by": ["batch_key", "..."]}, ("group_by",), '"..." groups every event alone'),
        ({"group_by": ["batch_key", "batch_key"]}, ("group_by",), "'batch_key' is listed twice"),
        ({"group_by": ["tags."]}, ("group_by",), "only tags.<name>, data.<path> and statistic"),
        ({"group_by": ["source.x"]}, ("group_by",), "only tags.<name>"),
        ({"group_by": ["statistic.bogus"]}, ("group_by",), "not a statistic key"),
        ({"group_interval": "0s"}, ("group_interval",), "must be longer than zero"),
        ({"repeat_interval": 0}, ("repeat_interval",), "must be longer than zero"),
        ({"group_wait": "soon"}, ("group_wait",), "invalid duration 'soon'"),
        ({"receiver": ""}, ("receiver",), "at least 1 character"),
        ({"name": "a/b"}, ("name",), "should match pattern"),
        ({"matchers": []}, ("matchers",), "Extra inputs are not permitted"),
        (
            {"match": {"statistic": {"submit_failure": [{"gte": 1}]}}},
            (),
            'match.statistic.submit_failure[0]: unknown operator "gte"',
        ),
        ({"match": {"statu": ["failed"]}}, (), "match.statu: not a key of the normalized view"),
        ({"match": {"source": "acs.imm"}}, (), "match.source: expected a list of values"),
    ],
)
def test_route_validation(route: dict[str, Any], location: tuple[str, ...], message: str) -> None:
    config = {"route": {"receiver": "r", "routes": [{"receiver": "x"}, route]}}
    with pytest.raises(ValidationError) as raised:
        RoutingConfig.model_validate(config)
    [error] = raised.value.errors()
    assert error["loc"] == ("route", "routes", 1, *location)
    assert message in error["msg"]


def test_continue_is_the_yaml_key_and_continue_the_python_name() -> None:
    by_alias = RouteConfig.model_validate({"continue": True})
    by_name = RouteConfig.model_validate({"continue_": True})
    assert by_alias.continue_ and by_name.continue_
    assert by_alias.model_dump(by_alias=True)["continue"] is True


def test_validate_receivers() -> None:
    config = routing(EXAMPLE)
    config.validate_receivers({"ops-webhook", "dingtalk-imm", "ice-webhook", "spare"})
    with pytest.raises(ConfigError) as raised:
        config.validate_receivers({"ops-webhook", "ice-webhook"})
    assert str(raised.value) == (
        "routing.route.routes.0.receiver: receiver 'dingtalk-imm' of route root/0 is not "
        "defined (defined receivers: ice-webhook, ops-webhook); "
        "routing.route.routes.1.receiver: receiver 'dingtalk-imm' of route root/1 is not "
        "defined (defined receivers: ice-webhook, ops-webhook)"
    )


def test_validate_receivers_checks_the_root_and_reports_no_receivers() -> None:
    with pytest.raises(
        ConfigError, match=r"^routing\.route\.receiver: .*\(defined receivers: none\)"
    ):
        routing("route: {receiver: r}").validate_receivers(set())


def test_match_never_raises_on_odd_views() -> None:
    route_tree = tree(EXAMPLE)
    odd: list[Any] = [{}, {"statistic": "x", "tags": [1, {"team": 2}]}, {"source": ["acs.ice"]}]
    for event in odd:
        assert route_tree.match(event, NOON)


def test_configs_compare_by_content_and_dump_back_to_valid_yaml_shapes() -> None:
    config = routing(EXAMPLE)
    assert config == routing(EXAMPLE)
    assert config != routing(EXAMPLE.replace("group_wait: 10s", "group_wait: 11s"))
    dumped = config.model_dump(by_alias=True)
    assert dumped["route"]["routes"][0]["continue"] is False
    assert dumped["time_intervals"][0]["time_intervals"][0]["times"][1] == {
        "start_time": "22:00",
        "end_time": "24:00",
    }
    assert RoutingConfig.model_validate(dumped) == config
