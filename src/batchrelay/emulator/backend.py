"""The emulator's state and operations, independent of HTTP: queues, topics, delivery.

Route handlers parse requests, call one method here and render the result; tests and
tools may call these methods directly to set up or inspect state.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import structlog

from batchrelay.emulator.attributes import (
    QueueAttributes,
    TopicAttributes,
    parse_int,
    queue_attributes,
)
from batchrelay.emulator.auth import Verifier
from batchrelay.emulator.config import EmulatorConfig
from batchrelay.emulator.errors import (
    MnsError,
    internal_error,
    invalid_argument,
    queue_not_exist,
    subscription_not_exist,
    topic_not_exist,
)
from batchrelay.emulator.faults import Faults
from batchrelay.emulator.ids import Ids
from batchrelay.emulator.notifications import render
from batchrelay.emulator.push import Pusher, PushSettings
from batchrelay.emulator.queues import Clock, Message, Queue, body_md5
from batchrelay.emulator.signing import Signer
from batchrelay.emulator.topics import MAX_TAG_LENGTH, Publication, Subscription, Topic

log = structlog.get_logger(__name__)

CERT_PATH = "/x509_public_certificate.pem"
MAX_BATCH = 16
MAX_NAME_LENGTH = 256
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
# kind -> (code for a bad name, code for a too long name)
_NAME_CODES = {
    "queue": ("InvalidQueueName", "QueueNameLengthError"),
    "topic": ("TopicNameInvalid", "TopicNameLengthError"),
    "subscription": ("SubscriptionNameInvalid", "SubscriptionNameLengthError"),
}
T = TypeVar("T")


def check_name(kind: str, name: str) -> None:
    invalid, too_long = _NAME_CODES[kind]
    if len(name) > MAX_NAME_LENGTH:
        raise MnsError(400, too_long, f"The length of the {kind} name should be at most 256.")
    if not _NAME.match(name):
        raise MnsError(400, invalid, f"The {kind} name you provided is invalid: {name}")


def page(
    items: Mapping[str, T], prefix: str, marker: str, limit: int
) -> tuple[list[T], str | None]:
    """One page of a List call: names sorted; the marker is the first name of the next page."""
    names = sorted(n for n in items if n.startswith(prefix) and n >= marker)
    next_marker = names[limit] if len(names) > limit else None
    return [items[n] for n in names[:limit]], next_marker


class Backend:
    """Queues, topics and subscriptions of one emulated MNS account."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        rng: random.Random,
        clock: Clock = time.time,
        signer: Signer | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.ids = Ids()
        self.faults = Faults(config.faults, rng)
        self.signer = signer or (Signer.legacy() if config.legacy_cert else Signer.generate())
        self.base_url = config.base_url()
        self.queues: dict[str, Queue] = {}
        self.topics: dict[str, Topic] = {}
        secrets = {key: secret.get_secret_value() for key, secret in config.access_keys.items()}
        self.verifier = Verifier(secrets, config.max_date_skew, clock)
        self.pusher = self._pusher(rng)
        for name in config.queues:
            self.create_queue(name, QueueAttributes())

    def _pusher(self, rng: random.Random) -> Pusher:
        config = self.config
        settings = PushSettings(
            config.retry_scale,
            config.push_timeout,
            config.max_pending_pushes,
            config.push_concurrency,
        )
        return Pusher(
            settings,
            signer=self.signer,
            rng=rng,
            ids=self.ids,
            cert_url=lambda: self.cert_url,  # late: the port is known only once serving
            clock=self.clock,
        )

    @property
    def cert_url(self) -> str:
        return f"{self.base_url}{CERT_PATH}"

    def queue_endpoint(self, name: str) -> str:
        """The Subscribe endpoint that delivers a topic into queue ``name``."""
        return f"acs:mns:{self.config.region}:{self.config.account_id}:queues/{name}"

    async def start(self) -> None:
        await self.pusher.start()

    def stop_polls(self) -> None:
        """End every long poll now (shutdown): pollers answer at once."""
        for queue in self.queues.values():
            queue.close()

    async def close(self) -> None:
        self.stop_polls()
        await self.pusher.close()

    # -- queues ---------------------------------------------------------------------------

    def create_queue(self, name: str, attributes: QueueAttributes) -> bool:
        """True if created; False if it exists with the same attributes (else 409)."""
        if not _may_create("queue", self.queues, name, attributes, self.config.max_queues):
            return False
        self.queues[name] = Queue(
            name,
            attributes,
            ids=self.ids,
            clock=self.clock,
            max_messages=self.config.max_queue_messages,
        )
        return True

    def set_queue_attributes(self, name: str, fields: Mapping[str, str]) -> None:
        queue = self.queue(name)
        queue.attributes = queue_attributes(fields, queue.attributes)
        queue.modified = int(self.clock())

    def queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            raise queue_not_exist(name)
        return queue

    def delete_queue(self, name: str) -> None:
        """Idempotent, like MNS: deleting a missing queue succeeds."""
        queue = self.queues.pop(name, None)
        if queue is not None:
            queue.close()

    def send(self, queue: Queue, fields: Sequence[Mapping[str, str]]) -> list[Message]:
        """SendMessage / BatchSendMessage: every entry is checked before any is enqueued."""
        if not 1 <= len(fields) <= MAX_BATCH:
            raise invalid_argument(f"The count of messages should between 1 and {MAX_BATCH}.")
        limit = min(queue.attributes.maximum_message_size, self.config.max_message_size)
        entries = [_message_entry(entry, limit) for entry in fields]
        if queue.room() < len(entries):
            raise internal_error(f"queue {queue.name} holds its maximum of messages")
        return [queue.send(*entry) for entry in entries]

    # -- topics ---------------------------------------------------------------------------

    def create_topic(self, name: str, attributes: TopicAttributes) -> bool:
        """True if created; False if it exists with the same attributes (else 409)."""
        if not _may_create("topic", self.topics, name, attributes, self.config.max_topics):
            return False
        now = int(self.clock())
        self.topics[name] = Topic(name, attributes, now, now)
        return True

    def topic(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            raise topic_not_exist(name)
        return topic

    def delete_topic(self, name: str) -> None:
        self.topics.pop(name, None)

    def subscribe(self, subscription: Subscription) -> bool:
        """True if created; False if it exists with the same settings (else 409)."""
        check_name("subscription", subscription.name)
        topic = self.topic(subscription.topic)
        existing = topic.subscriptions.get(subscription.name)
        if existing is not None:
            if not existing.same_settings(subscription):
                raise MnsError(
                    409,
                    "SubscriptionAlreadyExist",
                    f"The subscription is already exist: {subscription.name}",
                )
            return False
        if len(topic.subscriptions) >= self.config.max_subscriptions:
            raise internal_error(f"topic {topic.name} holds its maximum of subscriptions")
        topic.subscriptions[subscription.name] = subscription
        return True

    def subscription(self, topic: str, name: str) -> Subscription:
        subscription = self.topic(topic).subscriptions.get(name)
        if subscription is None:
            raise subscription_not_exist(name)
        return subscription

    def unsubscribe(self, topic: str, name: str) -> None:
        self.topic(topic).subscriptions.pop(name, None)

    def publish(self, topic_name: str, body: str, tag: str) -> Publication:
        """PublishMessage: deliver to every subscription whose FilterTag accepts ``tag``."""
        topic = self.topic(topic_name)
        _check_body(body, min(topic.attributes.maximum_message_size, self.config.max_message_size))
        if len(tag) > MAX_TAG_LENGTH:
            raise invalid_argument(f"The length of MessageTag should be at most {MAX_TAG_LENGTH}.")
        publication = Publication(
            topic.name, self.ids.message_id(), body, body_md5(body), tag, int(self.clock() * 1000)
        )
        topic.published += 1
        for subscription in topic.matching(tag):
            self._deliver(subscription, publication)
        return publication

    def _deliver(self, subscription: Subscription, publication: Publication) -> None:
        queue_name = subscription.queue_name
        owner = self.config.account_id
        if queue_name is None:
            payload = render(subscription, publication, owner, self.cert_url)
            strategy = subscription.notify_strategy
            self.pusher.submit(subscription.name, subscription.endpoint, payload, strategy)
            return
        queue = self.queues.get(queue_name)
        if queue is None or queue.room() <= 0:
            log.warning(
                "emulator.topic.undeliverable", subscription=subscription.name, queue=queue_name
            )
            return
        queue.send(render(subscription, publication, owner).body.decode())


def _check_body(body: str, limit: int) -> None:
    size = len(body.encode())
    if not 1 <= size <= limit:
        raise invalid_argument(f"The length of MessageBody should between 1 and {limit} bytes.")


def _message_entry(fields: Mapping[str, str], limit: int) -> tuple[str, int | None, int | None]:
    body = fields.get("MessageBody", "")
    _check_body(body, limit)
    delay = fields.get("DelaySeconds")
    priority = fields.get("Priority")
    return (
        body,
        None if delay is None else parse_int("DelaySeconds", delay, 0, 604800),
        None if priority is None else parse_int("Priority", priority, 1, 16),
    )


def _may_create(
    kind: str, table: Mapping[str, Any], name: str, attributes: object, limit: int
) -> bool:
    """False when ``name`` exists with these attributes (MNS answers 204); 409 with others."""
    check_name(kind, name)
    existing = table.get(name)
    if existing is not None:
        if existing.attributes != attributes:
            code = f"{kind.capitalize()}AlreadyExist"
            raise MnsError(409, code, f"The {kind} you want to create is already exist: {name}")
        return False
    if len(table) >= limit:
        raise internal_error(f"the emulator holds its maximum of {limit} {kind}s")
    return True
