"""Rendering: the sandboxed environment, its bounds against hostile templates, the filters,
the context contract and the default templates."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchrelay.errors import ConfigError, PermanentError
from batchrelay.notifiers import FailureReason, Notification, SendError
from batchrelay.notifiers.template_context import build_context, failure_ratio
from batchrelay.notifiers.template_filters import duration, pct
from batchrelay.notifiers.templates import (
    ENVIRONMENT,
    check_syntax,
    compile_template,
    default_source,
    template_or_default,
    timefmt,
)
from tests.notifiers.support import BATCH, failed_task, make_notification


def render(source: str, notification: Notification | None = None, **extra: Any) -> str:
    return compile_template(source, "receivers.t.template").render(
        notification or make_notification(), **extra
    )


def render_error(source: str) -> SendError:
    started = time.monotonic()
    with pytest.raises(SendError) as caught:
        render(source)
    assert time.monotonic() - started < 3.0, "a hostile template must fail fast"
    return caught.value


# -- the sandbox and its bounds ------------------------------------------------------------

HOSTILE = {
    "class walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals via cycler": "{{ cycler.__init__.__globals__.os }}",
    "globals via namespace": "{{ namespace.__init__.__globals__ }}",
    "function globals": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "dunder on data": "{{ events.__class__.__base__ }}",
    "format attribute walk": "{{ '{0.__class__.__mro__}'.format('') }}",
    "mutating the data": "{{ events.append(1) }}",
    "huge range": "{% for i in range(10**9) %}{% endfor %}",
    "nested loops": "{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}",
    "string repetition": "{{ 'x' * 10**9 }}",
    "list repetition": "{{ ([0] * 10**8) | length }}",
    "padding method": "{{ 'x'.ljust(10**9) }}",
    "percent width": "{{ '%999999999s' % 'x' }}",
    "format width": "{{ '{:>999999999}'.format('x') }}",
    "nested format width": "{{ '{:{}}'.format('x', 999999999) }}",
    "doubling with ~": (
        "{% set ns = namespace(s='x' * 100000) %}"
        "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"
    ),
    "doubling with +": (
        "{% set ns = namespace(s='x' * 100000) %}"
        "{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"
    ),
    "join blow-up": "{{ (['x' * 200000] * 2000) | join }}",
    "replace blow-up": "{{ ('a' * 200000).replace('a', 'b' * 1000) }}",
    "replace filter blow-up": "{{ ('a' * 200000) | replace('a', 'b' * 1000) }}",
    "big exponent": "{{ 7 ** 10000000 }}",
    "infinite recursion": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "exponential macros": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    ),
    "huge output": "{% for i in range(10000) %}{{ 'y' * 100 }}{% endfor %}",
    "undefined name": "{{ no_such_thing }}",
    "undefined attribute": "{{ batch.no_such_key }}",
}


@pytest.mark.parametrize("source", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_templates_fail_safely(source: str) -> None:
    error = render_error(source)
    assert error.reason is FailureReason.TEMPLATE
    assert isinstance(error, PermanentError) and not error.retryable
    assert str(error).startswith("template: receivers.t.template")


def test_width_filters_are_not_available() -> None:
    for name in ("center", "indent", "format", "wordwrap"):
        with pytest.raises(ConfigError, match=f"No filter named '{name}'"):
            compile_template(f"{{{{ 'x' | {name}(10**9) }}}}", "receivers.t.template")


def test_the_environment_recovers_after_a_hostile_render() -> None:
    render_error(HOSTILE["nested loops"])
    assert render("{% for i in range(3) %}{{ i }}{% endfor %}") == "012"


def test_real_templates_have_room() -> None:
    events = [failed_task(i) for i in range(2000)]
    text = render(
        "{% for e in events %}{{ e.object_path }}\n{% endfor %}",
        make_notification(events=events),
    )
    assert text.count("\n") == 2000


def test_one_sandboxed_environment() -> None:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    assert isinstance(ENVIRONMENT, ImmutableSandboxedEnvironment)
    assert ENVIRONMENT.undefined is StrictUndefined
    assert ENVIRONMENT.autoescape is False


# -- syntax errors ---------------------------------------------------------------------


def test_syntax_errors() -> None:
    with pytest.raises(
        ConfigError, match=r"receivers\.ops\.template: template syntax error at line 2"
    ):
        compile_template("fine\n{% for x in %}", "receivers.ops.template")
    with pytest.raises(ValueError, match="line 1: Encountered unknown tag"):
        check_syntax("{% endfor %}")
    check_syntax("{{ s.title }}")


# -- filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0304, "3.0%"), (0, "0.0%"), (1, "100.0%"), (None, "n/a"), ("0.5", "50.0%")],
)
def test_pct(value: Any, text: str) -> None:
    assert pct(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (6.25, "6.2s"),
        (65, "1m 05s"),
        (3723, "1h 02m 03s"),
        (2 * 86400 + 3 * 3600 + 240, "2d 03h 04m"),
        (timedelta(minutes=3), "3m 00s"),
        (None, "n/a"),
    ],
)
def test_duration(seconds: Any, text: str) -> None:
    assert duration(seconds) == text


def test_timefmt() -> None:
    assert timefmt("2026-11-20T03:12:19.800Z") == "2026-11-20 03:12:19 UTC"
    assert timefmt("2026-11-20T11:12:19+08:00", "%H:%M") == "03:12"
    assert timefmt(datetime(2026, 1, 2, tzinfo=UTC), "%d/%m") == "02/01"
    assert timefmt("not a time") == "not a time"
    assert timefmt(None) == "n/a"


def test_filters_in_templates() -> None:
    assert render("{{ [1, 2, 3, 4] | truncate_list(2) }}") == "[1, 2]"
    assert render("{{ {'a': '<b>'} | tojson }}") == '{"a": "<b>"}'
    assert render("{{ '*bold* _x_ [l](u) `c`' | md }}") == r"\*bold\* \_x\_ \[l\](u) \`c\`"
    assert render("{{ '<a href=\"x\">&' | html }}") == "&lt;a href=&quot;x&quot;&gt;&amp;"
    assert render("{{ '<!here> & co' | slack }}") == "&lt;!here&gt; &amp; co"
    assert render("{{ 1234.5 | duration }} {{ 0.25 | pct(0) }}") == "20m 34s 25%"


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("markdown", "**K\\_1** `a_b` ### T"),
        ("markdown_nocode", "**K\\_1** a\\_b ### T"),
        ("slack", "*K_1* `a_b` *T*"),
        ("html", "<b>K_1</b> <code>a_b</code> <b>T</b>"),
        ("text", "K_1 a_b T"),
    ],
)
def test_dialect_markup(dialect: str, expected: str) -> None:
    assert render("{{ 'K_1' | b }} {{ 'a_b' | code }} {{ 'T' | h }}", dialect=dialect) == expected


# -- the context ----------------------------------------------------------------------------


def test_context_contract() -> None:
    notification = make_notification(failures=2, digest=True, omitted=5)
    context = build_context(notification)
    assert set(context) >= {
        "notification", "events", "batch", "digest", "omitted", "summary", "s",
        "max_failures", "dialect",
    }  # fmt: skip
    assert context["notification"]["created_at"] == "2026-11-20T03:12:30Z"
    s = context["summary"]
    assert s is context["s"]
    assert (s["batch_key"], s["project"], s["kind"], s["state"]) == (
        "batch-7f3a",
        "video-prod",
        "batch",
        "running",
    )
    assert s["statistic"] == BATCH["statistic"]
    assert s["failure_ratio"] == pytest.approx(37 / 1217)
    assert [f["code"] for f in s["failures"]] == ["InvalidParameter.Source"] * 2
    assert s["failures"][0]["object_path"] == "oss://media-in/2026/clip_0000.mp4"
    assert s["duration"] == pytest.approx(4339.8)
    assert s["title"] == "[digest] 2 tasks failed in batch batch-7f3a (video-prod)"
    assert s["failure_groups"] == [
        {"code": "InvalidParameter.Source", "count": 2, "failures": s["failures"]}
    ]
    assert (s["url"], s["alerts_url"]) == (None, None)  # no server.public_url


def test_summary_from_events_alone() -> None:
    events = [
        failed_task(0),
        failed_task(1, status="succeeded", code="", message=""),
        failed_task(2, status="succeeded", code="", message=""),
    ]
    s = build_context(make_notification(events=events, batch=None))["s"]
    assert s["task_counts"] == {"failed": 1, "succeeded": 2}
    assert s["failure_ratio"] == pytest.approx(1 / 3)
    assert s["statistic"] is None and s["duration"] is None
    assert s["state"] == "succeeded"  # the newest event's status


def test_failure_ratio_sources() -> None:
    assert failure_ratio({"submit_success": 90, "submit_failure": 10}, {}) == 0.1
    assert failure_ratio(None, {"succeeded": 3, "failed": 1}) == 0.25
    assert failure_ratio(None, {"running": 4}) is None
    assert failure_ratio({"submit_success": 0, "submit_failure": 0}, {"failed": 1}) is None


# -- default templates ------------------------------------------------------------------------


def test_default_chat_template_shows_the_batch() -> None:
    chat = template_or_default(None, "chat", "x")
    text = chat.render(
        make_notification(failures=14), dialect="markdown", show_title=True, max_failures=10
    )
    assert text.startswith("### 14 tasks failed in batch batch-7f3a (video-prod)")
    for line in (
        "- **Batch**: `batch-7f3a`",
        "- **Project**: `video-prod`",
        "- **Kind**: batch",
        "- **State**: running",
        "- **Files**: SubmitSuccess 1180 · SubmitFailure 37 · SkipFiles 3",
        "- **Tasks**: failed 37 · running 12 · succeeded 1180",
        "- **Failure ratio**: 3.0%",
        "- **Duration**: 1h 12m 19s",
        "- **Updated**: 2026-11-20 03:12:19 UTC",
        "**Failures** (14), by error code:",
        "`InvalidParameter.Source` × 14",
        "- `oss://media-in/2026/clip_0009.mp4`: The source object clip\\_0009.mp4 could not"
        " be decoded.",
        "… 4 more failures not shown",
    ):
        assert line in text.splitlines(), line
    assert "clip_0010" not in text


def test_default_chat_template_digest_wording() -> None:
    chat = template_or_default(None, "chat", "x")
    text = chat.render(make_notification(failures=3, digest=True, omitted=12), dialect="text")
    assert "Digest: 3 notifications combined, 12 more events not shown" in text
    assert "send budget ran short" in text


def test_default_templates_render_without_a_batch_or_events() -> None:
    empty = make_notification(events=[], batch=None)
    for name, extra in (("chat", {"dialect": "html", "show_title": True}), ("email.html", {})):
        text = template_or_default(None, name, "x").render(empty, **extra)
        assert "unknown" in text


def test_shipped_templates_are_package_data() -> None:
    assert "s.title" in default_source("chat")
    assert "<html>" in default_source("email.html")
