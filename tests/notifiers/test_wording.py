"""How messages read: titles that say what happened, failures by error code, dashboard links,
and template errors that name the template and the line."""

from __future__ import annotations

from dataclasses import replace

import pytest

from batchrelay.notifiers.templates import TemplateError, compile_template, template_or_default
from tests.notifiers.messages import every_message, notification
from tests.notifiers.support import failed_task

MESSAGES = every_message()


@pytest.mark.parametrize(
    ("message", "title"),
    [
        ("one failed task", "1 task failed in batch batch-7f3a (video-prod)"),
        ("failed tasks of two codes", "14 tasks failed in batch batch-7f3a (video-prod)"),
        ("task succeeded, no batch", "1 task succeeded in batch batch-7f3a (video-prod)"),
        ("batch event", "Batch batch-7f3a is running (video-prod)"),
        ("batch failed", "Batch batch-7f3a failed (video-prod)"),
        ("ice jobs", "1 job failed in batch batch-7f3a (video-prod)"),
        ("unknown event", "Unknown event imm:Task:MediaConvert"),
        ("alert firing", "Alert failure-ratio firing for batch batch-7f3a (video-prod)"),
        ("alert repeat", "Alert failure-ratio still firing for batch batch-7f3a (video-prod)"),
        ("alert resolved", "Alert failure-ratio resolved for batch batch-7f3a (video-prod)"),
        ("completion digest", "Batch batch-7f3a succeeded: 1217 files, 37 failed (video-prod)"),
        ("completion digest, ICE", "ICE batch batch-7f3a finished: 1217 jobs, 37 failed"
                                   " (video-prod)"),
        ("coalesced digest", "[digest] Alert failure-ratio firing for batch batch-7f3a"
                             " (video-prod)"),
        ("coalesced alerts", "[digest] Alert stalled firing for batch batch-7f3a (video-prod)"
                             " (+1 more)"),
    ],
)  # fmt: skip
def test_titles_say_what_happened(message: str, title: str) -> None:
    text = template_or_default(None, "chat", "x").render(MESSAGES[message], show_title=True)
    assert text.splitlines()[0] == title


def test_failures_are_grouped_by_error_code_most_frequent_first() -> None:
    text = template_or_default(None, "chat", "x").render(
        MESSAGES["failed tasks of two codes"], dialect="markdown", max_failures=5
    )
    lines = text.splitlines()
    start = lines.index("**Failures** (14), by error code:")
    assert lines[start + 1 : start + 8] == [
        "`InvalidParameter.Source` × 10",
        "- `oss://media-in/2026/clip_0001.mp4`: The source object clip\\_0001.mp4 could not be"
        " decoded.",
        *[f"- `oss://media-in/2026/clip_{i:04d}.mp4`: The source object clip\\_{i:04d}.mp4"
          " could not be decoded." for i in (2, 3, 5, 6)],
        "`ResourceNotFound` × 4",  # the count stays when no item of the code fits
    ]  # fmt: skip
    assert "… 9 more failures not shown" in lines


KEY = "batch 7f3a/b"  # a key that must be escaped in a URL


@pytest.mark.parametrize(
    ("dialect", "link"),
    [
        ("markdown", "[Open the batch in batchrelay](https://relay.example.com/batches/batch%207f3a%2Fb)"),
        ("markdown_nocode", "[Open the batch in batchrelay](https://relay.example.com/batches/"
                            "batch%207f3a%2Fb)"),
        ("slack", "<https://relay.example.com/batches/batch%207f3a%2Fb|Open the batch in"
                  " batchrelay>"),
        ("html", '<a href="https://relay.example.com/batches/batch%207f3a%2Fb">Open the batch in'
                 " batchrelay</a>"),
        ("text", "Open the batch in batchrelay: https://relay.example.com/batches/batch%207f3a%2Fb"),
    ],
)  # fmt: skip
def test_messages_link_to_the_batch_page_with_a_public_url(dialect: str, link: str) -> None:
    message = notification([failed_task(0, batch_key=KEY)], batch=None,
                           public_url="https://relay.example.com")  # fmt: skip
    text = template_or_default(None, "chat", "x").render(message, dialect=dialect)
    assert text.splitlines()[-1] == link


def test_alert_messages_link_to_the_alerts_page_too() -> None:
    message = replace(MESSAGES["alert firing"], public_url="https://relay.example.com")
    text = template_or_default(None, "chat", "x").render(message, dialect="text")
    assert text.splitlines()[-1].endswith(" · Alerts: https://relay.example.com/alerts")
    html = template_or_default(None, "email.html", "x").render(message)
    assert '<a href="https://relay.example.com/alerts">Alerts</a>' in html


def test_no_links_without_a_public_url() -> None:
    for message in MESSAGES.values():
        assert "/batches/" not in template_or_default(None, "chat", "x").render(message)


def test_a_template_error_names_the_template_and_the_line() -> None:
    template = compile_template("fine\n{% if events %}\n{{ events | nosuch }}\n{% endif %}",
                                "receivers.ops.template")  # fmt: skip
    with pytest.raises(TemplateError) as caught:
        template.render(MESSAGES["one failed task"])
    error = caught.value
    assert (error.where, error.line) == ("receivers.ops.template", 3)
    assert str(error).startswith("template: receivers.ops.template, line 3: TemplateRuntimeError")
