"""Notification rendering: one sandboxed Jinja2 environment, filters, and default templates.

Every receiver renders through :data:`ENVIRONMENT`, an ``ImmutableSandboxedEnvironment``
with ``StrictUndefined`` and autoescape off (the output is JSON, Markdown, Slack mrkdwn or
HTML depending on the channel, so each template escapes with the filter for its format).
Templates come from config, so they are untrusted; beyond the sandbox's attribute rules a
render is bounded: loop iterations and calls share a step budget, a wall-clock deadline,
and string, list and output sizes are capped (see :class:`Limits`). A template that trips
a bound fails that notification with ``template`` and harms nothing else.

The context every template sees (a public contract, like the normalized view; built by
``notifiers/template_context.py``):

``notification``  {id, receiver, route, group_key, digest, omitted, created_at}
``events``        normalized views, oldest first; ``batch``: the BatchView JSON or null
``digest``, ``omitted``  shortcuts for the notification fields
``summary`` (also ``s``)  batch_key (or null), project, kind, state, raw_state, source,
                  statistic, task_counts, failure_ratio, failures [{code, message,
                  object_path, task_id, time}], failure_groups [{code, count, failures}]
                  (most frequent code first), error_codes, duration (seconds), updated,
                  title (what happened: ``notifiers/wording.py``), url and alerts_url (the
                  batch's dashboard page and the alerts page, with ``server.public_url``;
                  else null), alerts (the ``alert`` events: alertname, status, notice,
                  severity, labels, annotations, value, alert), completion (the last
                  ``digest`` event's figures, or null; see ``alerts/notices.py``)
``max_failures``  how many failures a template lists; ``dialect`` the markup in use;
``show_title``    whether the message text should start with the title

Filters: ``pct`` (0.125 → "12.5%"), ``duration`` (seconds → "1h 02m 03s"), ``timefmt``
(ISO text or datetime → "2026-11-20 03:12:19 UTC"), ``truncate_list(n)``, ``tojson``,
escaping per format ``md``, ``html``, ``slack``, and markup that follows the channel's
dialect ``esc``, ``b`` (bold), ``code``, ``h`` (heading), ``link(label)``.

Errors: a syntax error at config load is a ``ConfigError`` naming the key; any failure
rendering is a permanent :class:`TemplateError` (``template``) naming template and line.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from batchrelay.errors import ConfigError
from batchrelay.notifiers.base import (
    FailureReason,
    Notification,
    PermanentSendError,
)
from batchrelay.notifiers.template_context import build_context, parse_time
from batchrelay.notifiers.template_filters import (
    duration,
    html,
    md,
    pct,
    slack,
    tojson,
    truncate_list,
)

DIALECTS = ("markdown", "markdown_nocode", "slack", "html", "text")


@dataclass(frozen=True)
class Limits:
    """Bounds on one render. Generous for real templates, fatal for hostile ones."""

    steps: int = 50_000  # loop iterations plus calls
    seconds: float = 2.0  # wall clock
    size: int = 256 * 1024  # longest string or list built, and the whole output
    range: int = 10_000  # longest range()


LIMITS = Limits()


class BudgetExceeded(SecurityError):
    """A render went past one of the :class:`Limits`."""


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps = 0
        self.deadline = time.monotonic() + limits.seconds

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            raise BudgetExceeded(f"more than {self.limits.steps} loop steps and calls")
        if self.steps % 64 == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"rendering took longer than {self.limits.seconds} s")

    def size(self, length: int) -> None:
        if length > self.limits.size:
            raise BudgetExceeded(f"a value of {length} items or characters is too large")


# One render at a time per context: renders are synchronous, so a context variable is exact.
_BUDGET: contextvars.ContextVar[_Budget] = contextvars.ContextVar("template_budget")


def _budget() -> _Budget:
    try:
        return _BUDGET.get()
    except LookupError:  # rendering outside render(), e.g. a direct Jinja call in a test
        budget = _Budget(LIMITS)
        _BUDGET.set(budget)
        return budget


class _Bounder(NodeTransformer):
    """Routes every ``for`` through a counting iterator and every ``~`` through a sized join.

    The sandbox checks attribute access but not work: ``{% for %}`` over ``range`` nested
    three deep never calls anything, so it is counted here, at the loop itself.
    """

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "_bounded", node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), "_concat", node.lineno)


def _filter(value: nodes.Node, name: str, lineno: int) -> nodes.Filter:
    return nodes.Filter(value, name, [], [], None, None, lineno=lineno)


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox plus work and size bounds on loops, calls and growing operators."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Jinja's parse hook: the one place the tree can be changed before compilation.
        tree = _Bounder().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree  # type: ignore[no-any-return]

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        _precheck_call(budget, __obj, args)
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _precheck_binop(_budget(), operator, left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # ``str.format`` is sandboxed when it is looked up; add the width bound there too.
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_widths(_budget(), fmt, [*args, *kwargs.values()])
            return wrapped(*args, **kwargs)

        return checked


_SIZED = (str, list, tuple)
_PADDING = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


def _precheck_call(budget: _Budget, obj: Any, args: tuple[Any, ...]) -> None:
    """Refuse string methods whose result would be too large, before building it."""
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _PADDING:
        factor = len(owner) if name == "expandtabs" else 1
        budget.size(max([len(owner), *(a * factor for a in args if _is_int(a))]))
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        found = owner.count(args[0]) if args[0] else len(owner) + 1
        budget.size(len(owner) + found * len(str(args[1])))
    elif name == "join" and args:
        budget.size(_joined_length(args[0], len(owner)))


def _precheck_binop(budget: _Budget, operator: str, left: Any, right: Any) -> None:
    if operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
        budget.size(len(left) + len(right))
    elif operator == "*":
        for sized, times in ((left, right), (right, left)):
            if isinstance(sized, _SIZED) and _is_int(times):
                budget.size(len(sized) * times)
    elif operator == "**" and _is_int(right) and abs(right) > 1024:
        raise BudgetExceeded("exponent too large")
    elif operator == "%" and isinstance(left, str):
        _check_widths(budget, left, right if isinstance(right, tuple) else [right])


def _check_widths(budget: _Budget, fmt: str, values: Iterable[Any]) -> None:
    """Format widths and precisions are sizes too: ``'%999999999d'`` or ``'{:{}}'``."""
    for digits in re.findall(r"\d+", fmt):
        budget.size(int(digits[:12]))
    for value in values:
        if _is_int(value):
            budget.size(abs(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _joined_length(items: Any, separator: int) -> int:
    if not isinstance(items, list | tuple):
        return 0  # an iterator: its items are counted by whatever produced them
    return sum(len(str(item)) + separator for item in items)


# -- filters ------------------------------------------------------------------------------


def _bounded(iterable: Any) -> Iterator[Any]:
    budget = _budget()
    for item in iterable:
        budget.step()
        yield item


def _concat(parts: list[Any]) -> str:
    texts = [str(part) for part in parts]
    _budget().size(sum(len(text) for text in texts))
    return "".join(texts)


def _safe_range(*args: int) -> range:
    result = range(*args)
    if len(result) > LIMITS.range:
        raise BudgetExceeded(f"range longer than {LIMITS.range}")
    return result


def _join(value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = [str(item if attribute is None else item[attribute]) for item in _bounded(value)]
    _budget().size(_joined_length(items, len(d)))
    return d.join(items)


def _replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(value)
    _precheck_call(_budget(), text.replace, (old, new))
    return text.replace(old, new) if count is None else text.replace(old, new, count)


def timefmt(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """An ISO 8601 time or a datetime, shown in UTC with ``fmt`` (strftime)."""
    if value is None or value == "":
        return "n/a"
    when = value if isinstance(value, datetime) else parse_time(str(value))
    if when is None:
        return str(value)
    _check_widths(_budget(), fmt, ())
    return when.astimezone(UTC).strftime(fmt)


def _plain(value: Any) -> str:
    return str(value)


def _backticks(value: Any) -> str:
    text = str(value).replace("`", "'") or " "
    return f"`{text}`"


# Per dialect: (escape, bold, code, heading). Which dialect a channel uses is documented in
# its module: DingTalk, Lark and Teams render backticks literally, so they get no code spans.
_MARKUP: dict[str, tuple[Callable[[Any], str], ...]] = {
    "markdown": (md, lambda v: f"**{md(v)}**", _backticks, lambda v: f"### {md(v)}"),
    "markdown_nocode": (md, lambda v: f"**{md(v)}**", md, lambda v: f"### {md(v)}"),
    "slack": (slack, lambda v: f"*{slack(v)}*", _backticks, lambda v: f"*{slack(v)}*"),
    "html": (html, lambda v: f"<b>{html(v)}</b>", lambda v: f"<code>{html(v)}</code>",
             lambda v: f"<b>{html(v)}</b>"),
    "text": (_plain, _plain, _plain, _plain),
}  # fmt: skip


def _link_markdown(url: str, text: str) -> str:
    return f"[{md(text)}]({url.replace(')', '%29').replace(' ', '%20')})"


_LINKS: dict[str, Callable[[str, str], str]] = {
    "markdown": _link_markdown,
    "markdown_nocode": _link_markdown,
    "slack": lambda url, text: f"<{slack(url)}|{slack(text)}>",
    "html": lambda url, text: f'<a href="{html(url)}">{html(text)}</a>',
    "text": lambda url, text: f"{text}: {url}",
}


@pass_context
def _link(context: Context, url: Any, text: str = "") -> str:
    """A link to ``url`` labelled ``text``, in the channel's dialect (text: "label: url")."""
    if not url:
        return ""
    render = _LINKS.get(context.get("dialect", "text"), _LINKS["text"])
    return render(str(url), str(text or url))


def _markup(position: int) -> Callable[[Context, Any], str]:
    @pass_context
    def apply(context: Context, value: Any) -> str:
        dialect = context.get("dialect", "text")
        return _MARKUP.get(dialect, _MARKUP["text"])[position]("" if value is None else value)

    return apply


# -- the environment ------------------------------------------------------------------------


def _environment() -> BoundedEnvironment:
    env = BoundedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    # Filters that pad or wrap text to a caller-chosen width can build huge strings in one
    # call; notifications have no use for them.
    for name in ("center", "indent", "format", "wordwrap"):
        env.filters.pop(name, None)
    env.filters.update(
        _bounded=_bounded,
        _concat=_concat,
        join=_join,
        replace=_replace,
        pct=pct,
        duration=duration,
        timefmt=timefmt,
        truncate_list=truncate_list,
        tojson=tojson,
        md=md,
        html=html,
        slack=slack,
        esc=_markup(0),
        b=_markup(1),
        code=_markup(2),
        h=_markup(3),
        link=_link,
    )
    env.globals["range"] = _safe_range
    return env


#: The one environment every template of every receiver is compiled in.
ENVIRONMENT = _environment()


def check_syntax(source: str) -> None:
    """Raise ``ValueError`` naming the line when ``source`` is not a valid template."""
    try:
        ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template syntax error at line {exc.lineno}: {exc.message}") from None


@dataclass(frozen=True)
class Template:
    """A compiled template; ``where`` names it in errors (``receivers.ops.template``)."""

    where: str
    compiled: JinjaTemplate

    def render(self, notification: Notification, **extra: Any) -> str:
        """Render for ``notification``; any failure is a permanent ``template`` SendError."""
        return self.render_context(build_context(notification, **extra))

    def render_context(self, context: dict[str, Any]) -> str:
        token = _BUDGET.set(_Budget(LIMITS))
        try:
            return _collect(self.compiled.generate(context))
        except Exception as exc:  # any error raised by template code is the template's
            raise _template_error(self.where, exc) from None
        finally:
            _BUDGET.reset(token)


def _collect(chunks: Iterable[str]) -> str:
    parts: list[str] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > LIMITS.size:
            raise BudgetExceeded(f"output longer than {LIMITS.size} characters")
        parts.append(chunk)
    return "".join(parts)


class TemplateError(PermanentSendError):
    """A template failed while rendering: ``where`` names it, ``line`` is its line (0 when
    the error came from outside the template's own code)."""

    def __init__(self, where: str, line: int, problem: str) -> None:
        self.where, self.line = where, line
        at = f", line {line}" if line else ""
        super().__init__(FailureReason.TEMPLATE, f"{where}{at}: {problem}")


def _template_error(where: str, exc: Exception) -> TemplateError:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return TemplateError(where, _template_line(exc), f"{type(exc).__name__}: {message}")


def _template_line(exc: BaseException) -> int:
    """The template line being rendered: Jinja puts the template's own frames, with its
    line numbers, into the traceback; the innermost one is where the error happened."""
    line, frame = 0, exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


def compile_template(source: str, where: str) -> Template:
    """Compile ``source``; a syntax error is a ``ConfigError`` naming ``where``."""
    try:
        return Template(where, ENVIRONMENT.from_string(source))
    except TemplateSyntaxError as exc:
        message = f"{where}: template syntax error at line {exc.lineno}: {exc.message}"
        raise ConfigError(message) from None


@cache
def default_source(name: str) -> str:
    """The text of a default template shipped in ``batchrelay/templates/{name}.j2``."""
    return resources.files("batchrelay").joinpath("templates", f"{name}.j2").read_text("utf-8")


def template_or_default(source: str | None, default: str, where: str) -> Template:
    """The configured template, else the shipped default ``default``."""
    if source is not None:
        return compile_template(source, where)
    return compile_template(default_source(default), f"default template {default!r}")
