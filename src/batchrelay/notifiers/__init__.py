"""Receivers: one module per channel with its platform's signing, size limits and error
codes; every channel's config model is in ``config``. The contract is in ``base``;
``registry`` builds a notifier from a ``ReceiverConfig``; ``templates`` renders.

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
from batchrelay.notifiers.config import RECEIVER_ADAPTER, ReceiverConfig

if TYPE_CHECKING:
    from batchrelay.notifiers.registry import build_notifier

_REGISTRY = frozenset({"build_notifier"})


def __getattr__(name: str) -> Any:
    # The registry imports every channel, and with them the template engine and the MNS
    # SDK: loaded on first use, so importing the config models (``batchrelay.config``)
    # loads neither.
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
