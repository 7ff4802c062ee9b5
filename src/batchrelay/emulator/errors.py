"""MNS error answers. Handlers raise :class:`MnsError`; the middleware renders it as XML.

Codes and statuses follow the MNS error-code table (protocols.md §3.3). Where MNS documents
no code for a situation the emulator picks the closest documented one and says so.
"""

from __future__ import annotations


class MnsError(Exception):
    """One MNS error reply: HTTP status, the MNS ``Code`` and a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def invalid_argument(message: str) -> MnsError:
    """A parameter is out of range or of the wrong shape (MNS uses this code for both)."""
    return MnsError(400, "InvalidArgument", message)


def malformed_xml(detail: str) -> MnsError:
    return MnsError(400, "MalformedXML", f"The XML you provided was not well-formed: {detail}")


def queue_not_exist(name: str) -> MnsError:
    return MnsError(404, "QueueNotExist", f"The queue name you provided is not exist: {name}")


def message_not_exist() -> MnsError:
    return MnsError(404, "MessageNotExist", "Message not exist.")


def receipt_handle_error(handle: str) -> MnsError:
    return MnsError(400, "ReceiptHandleError", f"The receipt handle is invalid: {handle}")


def topic_not_exist(name: str) -> MnsError:
    return MnsError(404, "TopicNotExist", f"The topic name you provided is not exist: {name}")


def subscription_not_exist(name: str) -> MnsError:
    return MnsError(404, "SubscriptionNotExist", f"The subscription is not exist: {name}")


def internal_error(message: str = "Internal error.") -> MnsError:
    return MnsError(500, "InternalError", message)
