"""Receivers: one module per channel, each with its config model and its platform's
signing, size limits and error codes. The contract is in ``base``; ``registry`` builds a
notifier from a ``ReceiverConfig``.

Channels: ``webhook`` (Standard Webhooks signing), ``dingtalk``, ``lark``, ``wecom``,
``slack``, ``teams``, ``discord``, ``telegram``, ``email`` (module ``smtp``),
``alertmanager``, ``mns_topic``.
"""

from typing import TYPE_CHECKING, Any

from batchrelay.notifiers.base import (
    FailureReason,
    Notification,
    Notifier,
    PermanentSendError,
    RetryableSendError,
    SendError,
    classify_http,
    retry_after_seconds,
    send_error,
)

if TYPE_CHECKING:
    from batchrelay.notifiers.registry import RECEIVER_ADAPTER, ReceiverConfig, build_notifier

_REGISTRY = frozenset({"RECEIVER_ADAPTER", "ReceiverConfig", "build_notifier"})


def __getattr__(name: str) -> Any:
    # The registry imports every channel, and the channels import delivery.templates,
    # which imports notifiers.base: loading the registry lazily keeps that cycle open.
    if name in _REGISTRY:
        from batchrelay.notifiers import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RECEIVER_ADAPTER",
    "FailureReason",
    "Notification",
    "Notifier",
    "PermanentSendError",
    "ReceiverConfig",
    "RetryableSendError",
    "SendError",
    "build_notifier",
    "classify_http",
    "retry_after_seconds",
    "send_error",
]
