"""Topic and subscription routes: ``/topics``, ``/topics/{topic}/...``."""

from __future__ import annotations

from aiohttp import web

from batchrelay.emulator import xml
from batchrelay.emulator.attributes import topic_attributes
from batchrelay.emulator.backend import page
from batchrelay.emulator.context import (
    backend,
    created,
    list_window,
    metaoverride,
    no_content,
    read_fields,
    read_xml,
    xml_response,
)
from batchrelay.emulator.topics import parse_strategy, subscription_from_fields

routes = web.RouteTableDef()


@routes.put("/topics/{topic}")
async def create_topic(request: web.Request) -> web.Response:
    """CreateTopic, or SetTopicAttributes with ``?metaoverride=true``."""
    state, name = backend(request), request.match_info["topic"]
    fields = await read_fields(request, "Topic")
    if metaoverride(request):
        topic = state.topic(name)
        topic.attributes = topic_attributes(fields, topic.attributes)
        topic.modified = int(state.clock())
        return no_content()
    new = state.create_topic(name, topic_attributes(fields))
    return created(f"{state.base_url}/topics/{name}", new=new)


@routes.get("/topics/{topic}")
async def get_topic_attributes(request: web.Request) -> web.Response:
    return xml_response(xml.topic_attributes(backend(request).topic(request.match_info["topic"])))


@routes.delete("/topics/{topic}")
async def delete_topic(request: web.Request) -> web.Response:
    backend(request).delete_topic(request.match_info["topic"])
    return no_content()


@routes.get("/topics")
async def list_topics(request: web.Request) -> web.Response:
    state = backend(request)
    topics, next_marker = page(state.topics, *list_window(request))
    return xml_response(xml.topic_list(topics, state.base_url, next_marker))


@routes.post("/topics/{topic}/messages")
async def publish_message(request: web.Request) -> web.Response:
    fields = xml.leaf_fields(await read_xml(request, "Message"))
    state = backend(request)
    body, tag = fields.get("MessageBody", ""), fields.get("MessageTag", "")
    publication = state.publish(request.match_info["topic"], body, tag)
    return xml_response(xml.published(publication.message_id, publication.body_md5), status=201)


@routes.put("/topics/{topic}/subscriptions/{subscription}")
async def subscribe(request: web.Request) -> web.Response:
    """Subscribe, or SetSubscriptionAttributes (NotifyStrategy) with ``?metaoverride=true``."""
    state = backend(request)
    topic, name = request.match_info["topic"], request.match_info["subscription"]
    fields = await read_fields(request, "Subscription")
    if metaoverride(request):
        _set_strategy(request, fields.get("NotifyStrategy", ""))
        return no_content()
    subscription = subscription_from_fields(topic, name, fields, int(state.clock()))
    new = state.subscribe(subscription)
    return created(f"{state.base_url}/topics/{topic}/subscriptions/{name}", new=new)


def _set_strategy(request: web.Request, strategy: str) -> None:
    state = backend(request)
    current = state.subscription(request.match_info["topic"], request.match_info["subscription"])
    current.notify_strategy = parse_strategy(strategy, current.notify_strategy)
    current.modified = int(state.clock())


@routes.get("/topics/{topic}/subscriptions/{subscription}")
async def get_subscription_attributes(request: web.Request) -> web.Response:
    state = backend(request)
    subscription = state.subscription(
        request.match_info["topic"], request.match_info["subscription"]
    )
    return xml_response(xml.subscription_attributes(subscription, state.config.account_id))


@routes.delete("/topics/{topic}/subscriptions/{subscription}")
async def unsubscribe(request: web.Request) -> web.Response:
    backend(request).unsubscribe(request.match_info["topic"], request.match_info["subscription"])
    return no_content()


@routes.get("/topics/{topic}/subscriptions")
async def list_subscriptions(request: web.Request) -> web.Response:
    state = backend(request)
    topic = state.topic(request.match_info["topic"])
    subscriptions, next_marker = page(topic.subscriptions, *list_window(request))
    return xml_response(xml.subscription_list(subscriptions, state.base_url, next_marker))
