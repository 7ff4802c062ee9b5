"""XML in and out, in the exact shapes the MNS SDK reads and writes.

Requests are parsed with defusedxml (no DTDs, no entity expansion: an entity bomb is a
400 MalformedXML, not a hung emulator). Responses are rendered as compact strings: the SDK
parses them with ``xml.dom.minidom`` and reads ``firstChild`` of each element, so no
pretty-printing whitespace, and every element the SDK decoders require is always present.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree

from batchrelay.emulator.errors import malformed_xml
from batchrelay.emulator.queues import Message, Queue
from batchrelay.emulator.topics import Subscription, Topic

NS = "http://mns.aliyuncs.com/doc/v1/"
_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'
# A bare CR would come back as LF after XML parsing; a character reference survives.
_ENTITIES = {"\r": "&#13;"}

# -- parsing ------------------------------------------------------------------------------


def parse(body: bytes) -> Element:
    """The root element of a request body, or 400 MalformedXML."""
    if not body.strip():
        raise malformed_xml("the request body is empty")
    try:
        root: Element = defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except (ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
        raise malformed_xml(type(exc).__name__) from None
    return root


def local_name(element: Element) -> str:
    """The tag without its namespace: clients may or may not send the MNS namespace."""
    return element.tag.rpartition("}")[2]


def leaf_fields(element: Element) -> dict[str, str]:
    """Child element name -> text. Nested elements (UserProperties) map to their text."""
    return {local_name(child): child.text or "" for child in element}


def children(element: Element, name: str) -> list[Element]:
    return [child for child in element if local_name(child) == name]


# -- rendering ----------------------------------------------------------------------------


def text(value: object) -> str:
    if not isinstance(value, str):
        return str(value)  # numbers: nothing to escape
    if "&" in value or "<" in value or ">" in value or "\r" in value:
        return escape(value, _ENTITIES)
    return value  # the common case, checked in C without building new strings


def elements(fields: Iterable[tuple[str, object]]) -> str:
    return "".join(f"<{name}>{text(value)}</{name}>" for name, value in fields)


def document(root: str, inner: str) -> bytes:
    return f'{_PROLOG}<{root} xmlns="{NS}">{inner}</{root}>'.encode()


def error(code: str, message: str, request_id: str, host_id: str) -> bytes:
    fields = (("Code", code), ("Message", message), ("RequestId", request_id))
    return document("Error", elements((*fields, ("HostId", host_id))))


def batch_delete_errors(failures: Iterable[tuple[str, str, str]]) -> bytes:
    """``(receipt handle, code, message)`` per failed handle, as BatchDeleteMessage answers."""
    items = (
        elements((("ErrorCode", code), ("ErrorMessage", message), ("ReceiptHandle", handle)))
        for handle, code, message in failures
    )
    return document("Errors", "".join(f"<Error>{item}</Error>" for item in items))


def _bool(value: bool) -> str:
    return "True" if value else "False"


# -- queues -------------------------------------------------------------------------------


def _queue_fields(queue: Queue) -> list[tuple[str, object]]:
    attrs, counts = queue.attributes, queue.counts()
    return [
        ("QueueName", queue.name),
        ("CreateTime", queue.created),
        ("LastModifyTime", queue.modified),
        ("VisibilityTimeout", attrs.visibility_timeout),
        ("MaximumMessageSize", attrs.maximum_message_size),
        ("MessageRetentionPeriod", attrs.message_retention_period),
        ("DelaySeconds", attrs.delay_seconds),
        ("PollingWaitSeconds", attrs.polling_wait_seconds),
        ("ActiveMessages", counts.active),
        ("InactiveMessages", counts.inactive),
        ("DelayMessages", counts.delayed),
        ("LoggingEnabled", _bool(attrs.logging_enabled)),
    ]


def queue_attributes(queue: Queue) -> bytes:
    return document("Queue", elements(_queue_fields(queue)))


def queue_list(
    queues: Iterable[Queue], base_url: str, next_marker: str | None, meta: bool
) -> bytes:
    def one(queue: Queue) -> str:
        fields = [("QueueURL", f"{base_url}/queues/{queue.name}")]
        return f"<Queue>{elements(fields + (_queue_fields(queue) if meta else []))}</Queue>"

    marker = elements([("NextMarker", next_marker)]) if next_marker else ""
    return document("Queues", "".join(one(q) for q in queues) + marker)


# -- messages -----------------------------------------------------------------------------


def _sent_fields(message: Message) -> list[tuple[str, object]]:
    fields: list[tuple[str, object]] = [
        ("MessageId", message.message_id),
        ("MessageBodyMD5", message.body_md5),
    ]
    if message.handle is not None:  # delayed messages can be deleted before they show
        fields.append(("ReceiptHandle", message.handle))
    return fields


def sent(message: Message) -> bytes:
    return document("Message", elements(_sent_fields(message)))


def sent_batch(messages: Iterable[Message]) -> bytes:
    inner = "".join(f"<Message>{elements(_sent_fields(m))}</Message>" for m in messages)
    return document("Messages", inner)


def _peeked_fields(message: Message) -> list[tuple[str, object]]:
    return [
        ("MessageId", message.message_id),
        ("MessageBodyMD5", message.body_md5),
        ("MessageBody", message.body),
        ("EnqueueTime", message.enqueue_ms),
        ("FirstDequeueTime", message.first_dequeue_time_ms),
        ("DequeueCount", message.dequeue_count),
        ("Priority", message.priority),
    ]


def _received_fields(message: Message) -> list[tuple[str, object]]:
    return [
        ("ReceiptHandle", message.handle),
        ("NextVisibleTime", message.next_visible_ms),
        *_peeked_fields(message),
    ]


def received(messages: list[Message], *, batch: bool, peek: bool) -> bytes:
    """ReceiveMessage / PeekMessage (one ``<Message>``) or their batch forms."""
    shape = _peeked_fields if peek else _received_fields
    if not batch:
        return document("Message", elements(shape(messages[0])))
    return document(
        "Messages", "".join(f"<Message>{elements(shape(m))}</Message>" for m in messages)
    )


def visibility(message: Message) -> bytes:
    fields = (("ReceiptHandle", message.handle), ("NextVisibleTime", message.next_visible_ms))
    return document("ChangeVisibility", elements(fields))


# -- topics -------------------------------------------------------------------------------


def topic_attributes(topic: Topic) -> bytes:
    attrs = topic.attributes
    fields: list[tuple[str, object]] = [
        ("TopicName", topic.name),
        ("CreateTime", topic.created),
        ("LastModifyTime", topic.modified),
        ("MaximumMessageSize", attrs.maximum_message_size),
        ("MessageRetentionPeriod", attrs.message_retention_period),
        ("MessageCount", topic.published),
        ("LoggingEnabled", _bool(attrs.logging_enabled)),
    ]
    return document("Topic", elements(fields))


def topic_list(topics: Iterable[Topic], base_url: str, next_marker: str | None) -> bytes:
    def one(topic: Topic) -> str:
        return f"<Topic>{elements([('TopicURL', f'{base_url}/topics/{topic.name}')])}</Topic>"

    items = "".join(one(topic) for topic in topics)
    marker = elements([("NextMarker", next_marker)]) if next_marker else ""
    return document("Topics", items + marker)


def subscription_attributes(subscription: Subscription, owner: str) -> bytes:
    fields: list[tuple[str, object]] = [
        ("TopicOwner", owner),
        ("TopicName", subscription.topic),
        ("SubscriptionName", subscription.name),
        ("Endpoint", subscription.endpoint),
        ("NotifyStrategy", subscription.notify_strategy),
        ("NotifyContentFormat", subscription.content_format),
        ("FilterTag", subscription.filter_tag),
        ("CreateTime", subscription.created),
        ("LastModifyTime", subscription.modified),
    ]
    return document("Subscription", elements(fields))


def subscription_list(
    subscriptions: Iterable[Subscription], base_url: str, next_marker: str | None
) -> bytes:
    def url(s: Subscription) -> str:
        return f"{base_url}/topics/{s.topic}/subscriptions/{s.name}"

    items = "".join(
        f"<Subscription>{elements([('SubscriptionURL', url(s))])}</Subscription>"
        for s in subscriptions
    )
    marker = elements([("NextMarker", next_marker)]) if next_marker else ""
    return document("Subscriptions", items + marker)


def published(message_id: str, md5: str) -> bytes:
    return document("Message", elements((("MessageId", message_id), ("MessageBodyMD5", md5))))


def notification(fields: Iterable[tuple[str, object]]) -> bytes:
    """The XML NotifyContentFormat wrapper (topic -> queue and topic -> HTTP)."""
    return document("Notification", elements(fields))
