"""Bytes to documents: take every transport wrapper off a notification body. Pure, no I/O.

The wrappers, outermost first, each optional, unwrapped as many times as they appear (up
to :data:`MAX_UNWRAP_DEPTH` nested bodies):

1. base64 (MNS queues written by a base64-encoding producer), taken as base64 only when it
   decodes to UTF-8 JSON or XML: plain text that uses only base64 letters stays text;
2. an MNS topic notification, XML (``<Notification xmlns="http://mns.aliyuncs.com/doc/v1/">``)
   or JSON (``TopicOwner`` / ``Message``), whose ``Message`` is a body again (maybe base64);
   its ``MessageId``, ``TopicName``, ``TopicOwner``, ``PublishTime`` and ``MessageTag`` go
   to :attr:`Document.transport`. SIMPLIFIED pushes are the bare message: their
   ``x-mns-*`` headers fill the same keys;
3. the innermost shape, which names the document's ``format``: an IMM envelope
   ``{id, source, type, subject, time, content}`` (``content`` a JSON string or an object),
   a CloudEvent (structured JSON with ``specversion``, or binary mode: ``ce-*`` headers and
   the data as the body), an ICE envelope ``{EventType, UserId, EventTime, MessageBody}``,
   bare IMM content, any other JSON object, or ``text``.

An MNS topic carries whatever its publishers send (``protocols.md`` §3.7). So what MNS
delivers — a queue message, a push body, a wrapper's ``Message`` — is read as a *message*:
plain text, JSON that is not an object, XML of another publisher become a ``text``
document (an ``unknown`` event once parsed), never an error. Only the other ingresses
insist on a known shape.

A JSON array yields one document per element (EventBridge may batch events).
:func:`decode_each` keeps going past bad elements and returns their errors in place;
:func:`decode` is the strict form and raises the first error. A body that is bad as a
whole (not UTF-8, forbidden XML, text where JSON is required, …) raises from both.

Every failure is a :class:`~batchrelay.errors.DecodeError` with a closed reason and a
short detail that names what failed and never quotes the payload.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote
from xml.etree.ElementTree import ParseError as XmlParseError

import defusedxml
import defusedxml.ElementTree as safe_xml

# cloudevents 2.x keeps the classic HTTP API under ``cloudevents.v1``. Its newer
# ``cloudevents.core`` parses ``time`` strictly (no ``…PRC``) and invents a missing ``id``.
from cloudevents.v1 import exceptions as ce_errors
from cloudevents.v1.http import from_http as ce_from_http

from batchrelay.errors import DecodeError, InputError, InputReason
from batchrelay.events.models import Document, DocumentFormat, Ingress
from batchrelay.events.strict_json import (
    DECODER,
    MAX_JSON_DEPTH,
    json_object,
    json_type,
    load_json,
    number_problem,
)

__all__ = ["MAX_JSON_DEPTH", "MAX_UNWRAP_DEPTH", "decode", "decode_each"]

#: Bodies nested inside bodies (base64, MNS ``Message``) past this many are refused.
MAX_UNWRAP_DEPTH = 4

_MNS_FACTS = ("MessageId", "TopicName", "TopicOwner", "PublishTime", "MessageTag")
# SIMPLIFIED pushes carry the wrapper's facts as headers instead (protocols.md §3.7).
_HEADER_FACTS = (
    ("x-mns-message-id", "MessageId"),
    ("x-mns-message-tag", "MessageTag"),
    ("x-mns-topic-name", "TopicName"),
    ("x-mns-topic-owner", "TopicOwner"),
    ("x-mns-publish-time", "PublishTime"),
)
_MNS_INGRESS: frozenset[Ingress] = frozenset({"mns-queue", "mns-push"})
_CE_REQUIRED = ("id", "source", "type", "specversion")
_CE_VERSIONS = ("1.0", "0.3")  # what the SDK reads
_CE_NOT_ATTRIBUTES = ("data", "data_base64")  # structured-mode members that carry the data
_SDK_REJECTION = ce_errors.MissingRequiredFields("")  # what the SDK raises for a bad version
_IMM_CONTENT_KEYS = ("TaskId", "ProjectName")
_IMM_BATCH_KEYS = ("State", "Statistic")
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/=\s]+")  # misplaced "=" is bad base64, not text
_WHITESPACE = re.compile(r"\s+")

Result = Document | InputError


def decode(
    raw: bytes, ingress: Ingress, headers: Mapping[str, str] | None = None
) -> list[Document]:
    """Every document in ``raw``; raises the first :class:`DecodeError` met."""
    documents: list[Document] = []
    for result in decode_each(raw, ingress, headers):
        if isinstance(result, InputError):
            raise result
        documents.append(result)
    return documents


def decode_each(
    raw: bytes, ingress: Ingress, headers: Mapping[str, str] | None = None
) -> list[Result]:
    """One result per document in ``raw``; elements of a JSON array fail one by one.

    Raises :class:`DecodeError` when the body is bad as a whole. What MNS delivers (a queue
    message, a topic push, a wrapper's ``Message``) is read as a message: whatever its
    publisher sent, so text that is not JSON or XML is a ``text`` document, not an error.
    """
    lowered = {key.lower(): value for key, value in headers.items()} if headers else {}
    _check_header_text(lowered)
    transport = {fact: lowered[name] for name, fact in _HEADER_FACTS if lowered.get(name)}
    # The content type decides the mode (CloudEvents HTTP binding): a structured event's
    # attributes are in its body, whatever ce-* headers came along.
    structured = lowered.get("content-type", "").lower().startswith("application/cloudevents")
    if not structured and any(key.startswith("ce-") for key in lowered):
        return [_binary_cloudevent(raw, lowered, transport)]  # an empty body is no data
    if not raw or raw.isspace():
        raise DecodeError(InputReason.EMPTY, "empty body")
    return _decode_bytes(raw, _Where(transport=transport, message=ingress in _MNS_INGRESS))


def _check_header_text(headers: Mapping[str, str]) -> None:
    """Headers that become part of a document (``ce-*``, ``x-mns-*``, the content type) must
    be text: aiohttp hands bytes that are not UTF-8 over as surrogate escapes."""
    for name, value in headers.items():
        if name.startswith(("ce-", "x-mns-")) or name == "content-type":
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise DecodeError(InputReason.BAD_ENCODING, f"header {name} is not UTF-8") from None


# -- bodies ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a body sits: how deep, inside which wrappers, with which transport facts, and
    whether it is an MNS message (anything its publisher sent) or must be a known shape."""

    depth: int = 0
    layers: tuple[str, ...] = ()
    transport: dict[str, str] = field(default_factory=dict)
    message: bool = False

    def inside(self, layer: str, transport: dict[str, str] | None = None) -> _Where:
        """A body nested in this one: a wrapper's ``Message`` is always a message."""
        message = self.message or layer in ("mns_json", "mns_xml")
        return _Where(self.depth + 1, (*self.layers, layer), transport or self.transport, message)

    def with_layer(self, layer: str) -> _Where:
        return _Where(self.depth, (*self.layers, layer), self.transport, self.message)

    def document(
        self, format: DocumentFormat, attributes: dict[str, Any], payload: dict[str, Any]
    ) -> Document:
        return Document(format, attributes, payload, (*self.layers, format), dict(self.transport))

    def text(self, text: str) -> Document:
        """The message as its publisher sent it: plain text, or JSON/XML of another service."""
        if "\x00" in text:
            raise DecodeError(InputReason.BAD_ENCODING, "NUL character in a text message")
        return self.document("text", {}, {"text": text})


def _decode_bytes(raw: bytes, where: _Where) -> list[Result]:
    return _decode_text(_utf8(raw), where)


def _decode_text(text: str, where: _Where) -> list[Result]:
    if where.depth > MAX_UNWRAP_DEPTH:
        raise DecodeError(InputReason.TOO_DEEP, f"more than {MAX_UNWRAP_DEPTH} nested bodies")
    text = text.strip()
    if not text:
        raise DecodeError(InputReason.EMPTY, "empty message" if where.depth else "empty body")
    first = text[0]
    if first in "{[":
        return _from_json_text(text, where)
    if first == "<":
        return _from_xml(text, where)
    return _from_other_text(text, where)


def _from_json_text(text: str, where: _Where) -> list[Result]:
    # Broken JSON stays an error even in a message: what opens like JSON and is not is far
    # likelier a damaged notification than text, and the quarantine shows it.
    value = load_json(text)
    if where.message and not _objects(value):
        return [where.text(text)]  # JSON of another publisher: a number, a list of names
    return _from_json_value(value, where)


def _from_other_text(text: str, where: _Where) -> list[Result]:
    if where.message:
        decoded = _base64_body(text)
        if decoded is None:
            return [where.text(text)]  # plain text, even when it uses only base64 letters
        return _decode_text(decoded, where.inside("base64"))
    # A JSON scalar is a wrong type, not base64, even when it looks like both ("1234").
    try:
        scalar = DECODER.decode(text)
    except json.JSONDecodeError:
        pass  # not JSON at all: maybe base64
    except ValueError as error:  # JSON, but a number we refuse (too long, not finite)
        raise DecodeError(InputReason.BAD_JSON, number_problem(error)) from None
    else:
        raise DecodeError(InputReason.WRONG_TYPE, f"the body is a JSON {json_type(scalar)}")
    if not _BASE64_TEXT.fullmatch(text):
        raise DecodeError(InputReason.BAD_JSON, "the body is text, not JSON, XML or base64")
    return _decode_bytes(_unbase64(text), where.inside("base64"))


def _base64_body(text: str) -> str | None:
    """The text ``text`` encodes, when it is base64 of UTF-8 JSON or XML (or of base64 of
    such, as deep as the unwrap limit allows); otherwise ``None``: plain text that happens
    to use only base64 letters ("Done", "mock") is not base64 (``protocols.md`` §3.7)."""
    if not _BASE64_TEXT.fullmatch(text):
        return None
    compact = _WHITESPACE.sub("", text)
    compact += "=" * (-len(compact) % 4)  # some producers drop the padding
    try:
        decoded = base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    inner = decoded.strip().removeprefix("\ufeff").lstrip()
    if inner[:1] in ("{", "[", "<") or (inner and _base64_body(inner) is not None):
        return decoded
    return None


def _utf8(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DecodeError(InputReason.BAD_ENCODING, f"not UTF-8 at byte {error.start}") from None
    return text.removeprefix("\ufeff")


def _unbase64(text: str) -> bytes:
    compact = _WHITESPACE.sub("", text)
    compact += "=" * (-len(compact) % 4)  # some producers drop the padding
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(InputReason.BAD_ENCODING, "invalid base64") from None
    if not decoded.strip():
        raise DecodeError(InputReason.EMPTY, "base64 of an empty body")
    return decoded


def _objects(value: Any) -> bool:
    """An object, or a non-empty array of objects: the JSON shapes notifications take."""
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _from_json_value(value: Any, where: _Where) -> list[Result]:
    if isinstance(value, dict):
        return _from_object(value, where)
    if isinstance(value, list):
        return _from_array(value, where.with_layer("array"))
    raise DecodeError(InputReason.WRONG_TYPE, f"the body is a JSON {json_type(value)}")


def _from_array(items: list[Any], where: _Where) -> list[Result]:
    if not items:
        raise DecodeError(InputReason.EMPTY, "empty JSON array")
    results: list[Result] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise DecodeError(InputReason.WRONG_TYPE, f"a JSON {json_type(item)}")
            results.extend(_from_object(item, where))
        except InputError as error:
            results.append(type(error)(error.reason, f"array element {index}: {error.detail}"))
    return results


def _from_object(obj: dict[str, Any], where: _Where) -> list[Result]:
    if "Message" in obj and ("TopicOwner" in obj or "TopicName" in obj):
        return _from_mns_json(obj, where)
    if "specversion" in obj:
        return [_structured_cloudevent(obj, where)]
    if "content" in obj and ("type" in obj or "source" in obj):
        return [_imm_envelope(obj, where)]
    if "EventType" in obj and "MessageBody" in obj:
        return [_ice_envelope(obj, where)]
    if _is_imm_content(obj):
        return [where.document("imm_content", {}, obj)]
    return [where.document("json", {}, obj)]


def _is_imm_content(obj: dict[str, Any]) -> bool:
    if any(key in obj for key in _IMM_CONTENT_KEYS):
        return True
    return "Id" in obj and any(key in obj for key in _IMM_BATCH_KEYS)


# -- MNS topic notifications ------------------------------------------------------------


def _from_mns_json(obj: dict[str, Any], where: _Where) -> list[Result]:
    inner = where.inside("mns_json", {**where.transport, **_mns_facts(obj)})
    message = obj["Message"]
    if isinstance(message, str):
        return _decode_text(message, inner)
    if isinstance(message, dict | list):  # tolerate a producer that nested the object
        return _from_json_value(message, inner)
    raise DecodeError(InputReason.WRONG_TYPE, f"MNS Message is a JSON {json_type(message)}")


def _from_xml(text: str, where: _Where) -> list[Result]:
    root = _parse_xml(text)  # malformed or entity-laden XML is an error, as broken JSON is
    if _local_name(root.tag) != "Notification":
        if where.message:
            return [where.text(text)]  # XML of another publisher
        raise DecodeError(InputReason.WRONG_TYPE, "XML that is not an MNS Notification")
    fields = {_local_name(child.tag): child.text or "" for child in root}
    if "Message" not in fields:
        raise DecodeError(InputReason.MISSING_FIELD, "MNS Notification without Message")
    inner = where.inside("mns_xml", {**where.transport, **_mns_facts(fields)})
    return _decode_text(fields["Message"], inner)


def _parse_xml(text: str) -> Any:
    try:
        # DTDs are refused outright: no MNS body has one, and entities live in them.
        return safe_xml.fromstring(text, forbid_dtd=True)
    except defusedxml.DefusedXmlException as error:
        raise DecodeError(InputReason.FORBIDDEN_XML, type(error).__name__) from None
    except XmlParseError as error:
        raise DecodeError(InputReason.BAD_XML, f"malformed XML at {error.position}") from None
    except (ValueError, RecursionError):
        raise DecodeError(InputReason.BAD_XML, "unreadable XML") from None


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _mns_facts(fields: Mapping[str, Any]) -> dict[str, str]:
    # PublishTime is a string in some JSON pushes and a number in others (protocols.md §3.7).
    return {
        name: str(value)
        for name in _MNS_FACTS
        if isinstance(value := fields.get(name), str | int)
        and not isinstance(value, bool)
        and value != ""
    }


# -- envelopes --------------------------------------------------------------------------


def _imm_envelope(obj: dict[str, Any], where: _Where) -> Document:
    content = obj["content"]
    if isinstance(content, str):
        payload = json_object(content, "content") if content.strip() else {}
    elif isinstance(content, dict):
        payload = content
    elif content is None:
        payload = {}
    else:
        raise DecodeError(InputReason.WRONG_TYPE, f"content is a JSON {json_type(content)}")
    attributes = {key: value for key, value in obj.items() if key != "content"}
    return where.document("imm_envelope", attributes, payload)


def _ice_envelope(obj: dict[str, Any], where: _Where) -> Document:
    body = obj["MessageBody"]
    if isinstance(body, str):
        payload = json_object(body, "MessageBody")
    elif isinstance(body, dict):
        payload = body
    else:
        raise DecodeError(InputReason.WRONG_TYPE, f"MessageBody is a JSON {json_type(body)}")
    attributes = {key: value for key, value in obj.items() if key != "MessageBody"}
    return where.document("ice", attributes, payload)


# -- CloudEvents ------------------------------------------------------------------------


def _structured_cloudevent(obj: dict[str, Any], where: _Where) -> Document:
    _require_attributes({name: obj.get(name) for name in _CE_REQUIRED}, "")
    attributes = structured_attributes(obj)
    payload = _ce_payload(obj.get("data"), obj.get("data_base64"))
    return where.document("cloudevent", attributes, payload)


def structured_attributes(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of a structured-mode event, as the SDK's ``from_dict`` reads them.

    Read here, not through the SDK: for an object decoded from JSON, ``from_dict`` comes
    down to lower-casing the attribute names and checking the version and the required
    attributes, and building its event object cost more than all the rest of decoding
    (this runs once per pushed event). Binary mode, where the SDK maps ``ce-*`` headers,
    still goes through it; ``tests/events/test_decode.py`` checks that both readings agree.
    """
    attributes = {
        name.lower(): value for name, value in obj.items() if name not in _CE_NOT_ATTRIBUTES
    }
    # The required names are there (the caller checked their lower-case spelling), but an
    # upper-case duplicate ("SpecVersion") may have replaced the checked version.
    version = attributes["specversion"]
    if not (isinstance(version, str) and version in _CE_VERSIONS):
        raise DecodeError(InputReason.BAD_CLOUDEVENT, _ce_problem(_SDK_REJECTION))
    attributes.pop("data", None)  # "Data" and the like: data is never an attribute
    if "time" not in obj:  # the SDK invents one; an event time must come from the sender
        attributes.pop("time", None)
    return attributes


def _binary_cloudevent(raw: bytes, headers: dict[str, str], transport: dict[str, str]) -> Document:
    _require_attributes({name: headers.get(f"ce-{name}") for name in _CE_REQUIRED}, "ce-")
    try:
        # The body is read below, by our own JSON rules; the SDK only maps the headers.
        event = ce_from_http(headers, raw, data_unmarshaller=_keep_body)
    # the SDK trusts what it reads (a body it takes for structured mode may be a list):
    # anything it raises is a CloudEvent it could not read, not a fault of ours
    except (ce_errors.GenericException, AttributeError, TypeError, ValueError, KeyError) as error:
        raise DecodeError(InputReason.BAD_CLOUDEVENT, _ce_problem(error)) from None
    given = {key.removeprefix("ce-") for key in headers if key.startswith("ce-")}
    attributes = {
        name: unquote(value) if isinstance(value, str) else value  # header values are %-encoded
        for name, value in _ce_attributes(event, given=given).items()
    }
    payload = _ce_payload(load_json(_utf8(raw)), None) if raw.strip() else {}
    return Document("cloudevent", attributes, payload, ("cloudevent_binary",), dict(transport))


def _keep_body(body: Any) -> Any:
    return body


def _require_attributes(values: Mapping[str, Any], prefix: str) -> None:
    missing = [prefix + name for name, value in values.items() if not _nonempty_str(value)]
    if missing:
        raise DecodeError(InputReason.BAD_CLOUDEVENT, f"missing or empty {', '.join(missing)}")
    if values["specversion"] not in _CE_VERSIONS:
        raise DecodeError(InputReason.BAD_CLOUDEVENT, f"unsupported {prefix}specversion")


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _ce_problem(error: Exception) -> str:
    # SDK messages quote attribute values and bodies: name the failure, not the input.
    return f"rejected by the CloudEvents SDK ({type(error).__name__})"


def _ce_attributes(event: Any, given: Container[str]) -> dict[str, Any]:
    # The SDK invents ``time`` (now) when absent; an event time must come from the sender.
    return {
        name: event.get(name)
        for name in event
        if name != "data" and (name != "time" or "time" in given)
    }


def _ce_payload(data: Any, data_base64: Any) -> dict[str, Any]:
    if data is None and isinstance(data_base64, str):
        data = json_object(_utf8(_unbase64(data_base64)), "data_base64")
    if isinstance(data, str) and data.lstrip().startswith("{"):
        data = json_object(data, "data")  # JSON sent as a string
    if data is None:
        return {}
    # Non-object data (rare: EventBridge carries JSON objects) is kept, under one key.
    return data if isinstance(data, dict) else {"data": data}
