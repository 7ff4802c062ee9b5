"""A local MNS (Alibaba Cloud Message Service) the official SDK works against unchanged.

Queues (visibility timeout, DequeueCount, long polling, batches, delays, priorities),
topics with queue and HTTP subscriptions (HTTP pushes signed with RSA-SHA1 by a generated
certificate served at :data:`CERT_PATH`), HMAC-SHA1 request signatures, MNS error bodies,
and fault knobs (duplicates, lost deletes, 5xx, latency). On the same port, the IMM and
ICE OpenAPI subset the official SDKs call (batches, triggers, batch media producing jobs),
with ACS3-HMAC-SHA256 signatures checked. State is in memory and bounded.

    async with running_emulator(EmulatorConfig(port=0)) as emu:
        account = mns.account.Account(emu.url, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)

Modules: ``config`` settings · ``app`` routes and lifecycle · ``server`` the context manager
· ``cli`` the command · ``auth`` request signing · ``signing`` push certificate ·
``queues`` queue state · ``topics``/``notifications``/``push`` topic delivery · ``xml``
wire shapes · ``faults`` injected misbehaviour · ``routes_openapi``/``openapi_auth``/
``openapi_errors``/``cloud`` the IMM and ICE API.
"""

from batchrelay.emulator.app import create_app
from batchrelay.emulator.attributes import QueueAttributes, TopicAttributes
from batchrelay.emulator.auth import authorization, content_md5, string_to_sign
from batchrelay.emulator.backend import CERT_PATH, Backend
from batchrelay.emulator.cli import main
from batchrelay.emulator.config import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    EmulatorConfig,
    FaultConfig,
)
from batchrelay.emulator.push import PushAttempt
from batchrelay.emulator.queues import Message, QueueCounts
from batchrelay.emulator.server import RunningEmulator, running_emulator
from batchrelay.emulator.signing import Signer

__all__ = [
    "CERT_PATH",
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_ACCESS_KEY_SECRET",
    "Backend",
    "EmulatorConfig",
    "FaultConfig",
    "Message",
    "PushAttempt",
    "QueueAttributes",
    "QueueCounts",
    "RunningEmulator",
    "Signer",
    "TopicAttributes",
    "authorization",
    "content_md5",
    "create_app",
    "main",
    "running_emulator",
    "string_to_sign",
]
