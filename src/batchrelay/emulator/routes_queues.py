"""Queue and message routes: ``/queues``, ``/queues/{name}``, ``/queues/{name}/messages``."""

from __future__ import annotations

from aiohttp import web

from batchrelay.emulator import xml
from batchrelay.emulator.attributes import parse_int, queue_attributes
from batchrelay.emulator.backend import MAX_BATCH, page
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
from batchrelay.emulator.errors import MnsError, invalid_argument, message_not_exist
from batchrelay.emulator.queues import Message, Queue, poll

routes = web.RouteTableDef()

# Status of a BatchDeleteMessage that failed for some handles. MNS documents only that 204
# means "all deleted"; the SDK accepts any status >= 400 with an <Errors> body.
BATCH_DELETE_FAILED = 404


def _queue(request: web.Request) -> Queue:
    return backend(request).queue(request.match_info["name"])


@routes.put("/queues/{name}")
async def create_queue(request: web.Request) -> web.Response:
    """CreateQueue, or SetQueueAttributes with ``?metaoverride=true``."""
    state, name = backend(request), request.match_info["name"]
    fields = await read_fields(request, "Queue")
    if metaoverride(request):
        state.set_queue_attributes(name, fields)
        return no_content()
    new = state.create_queue(name, queue_attributes(fields))
    return created(f"{state.base_url}/queues/{name}", new=new)


@routes.get("/queues/{name}")
async def get_queue_attributes(request: web.Request) -> web.Response:
    return xml_response(xml.queue_attributes(_queue(request)))


@routes.delete("/queues/{name}")
async def delete_queue(request: web.Request) -> web.Response:
    backend(request).delete_queue(request.match_info["name"])
    return no_content()


@routes.get("/queues")
async def list_queues(request: web.Request) -> web.Response:
    state = backend(request)
    prefix, marker, limit = list_window(request)
    queues, next_marker = page(state.queues, prefix, marker, limit)
    meta = request.headers.get("x-mns-with-meta", "").lower() == "true"
    return xml_response(xml.queue_list(queues, state.base_url, next_marker, meta))


@routes.post("/queues/{name}/messages")
async def send_message(request: web.Request) -> web.Response:
    """SendMessage (``<Message>``) or BatchSendMessage (``<Messages>``)."""
    queue = _queue(request)
    root = await read_xml(request, "Message", "Messages")
    if xml.local_name(root) == "Message":
        [message] = backend(request).send(queue, [xml.leaf_fields(root)])
        return xml_response(xml.sent(message), status=201)
    entries = [xml.leaf_fields(item) for item in xml.children(root, "Message")]
    return xml_response(xml.sent_batch(backend(request).send(queue, entries)), status=201)


@routes.get("/queues/{name}/messages")
async def receive_message(request: web.Request) -> web.Response:
    """ReceiveMessage, BatchReceiveMessage, PeekMessage and BatchPeekMessage."""
    queue, query = _queue(request), request.query
    batch = "numOfMessages" in query
    limit = parse_int("numOfMessages", query["numOfMessages"], 1, MAX_BATCH) if batch else 1
    peek = query.get("peekonly", "").lower() == "true"
    messages = queue.peek(limit) if peek else await _receive(request, queue, limit)
    if not messages:
        raise message_not_exist()
    return xml_response(xml.received(messages, batch=batch, peek=peek))


async def _receive(request: web.Request, queue: Queue, limit: int) -> list[Message]:
    wait = request.query.get("waitseconds")
    seconds = (
        queue.attributes.polling_wait_seconds
        if wait is None
        else parse_int("waitseconds", wait, 0, 30)
    )
    return await poll(queue, limit, seconds, backend(request).faults.duplicate)


@routes.delete("/queues/{name}/messages")
async def delete_message(request: web.Request) -> web.Response:
    """DeleteMessage (``?ReceiptHandle=``) or BatchDeleteMessage (``<ReceiptHandles>``)."""
    queue = _queue(request)
    if "ReceiptHandle" in request.query:
        _delete(request, queue, _required(request, "ReceiptHandle", "MissingReceiptHandle"))
        return no_content()
    root = await read_xml(request, "ReceiptHandles")
    handles = [item.text or "" for item in xml.children(root, "ReceiptHandle")]
    if not 1 <= len(handles) <= MAX_BATCH:
        raise invalid_argument(f"The count of receipt handles should between 1 and {MAX_BATCH}.")
    failures = []
    for handle in handles:
        try:
            _delete(request, queue, handle)
        except MnsError as exc:
            failures.append((handle, exc.code, exc.message))
    if failures:
        return xml_response(xml.batch_delete_errors(failures), status=BATCH_DELETE_FAILED)
    return no_content()


def _delete(request: web.Request, queue: Queue, handle: str) -> None:
    if backend(request).faults.lose_delete():
        return  # the lost-delete fault: answer success, keep the message
    queue.delete(handle)


@routes.put("/queues/{name}/messages")
async def change_visibility(request: web.Request) -> web.Response:
    """ChangeMessageVisibility: a new handle, hidden for VisibilityTimeout from now."""
    queue = _queue(request)
    handle = _required(request, "ReceiptHandle", "MissingReceiptHandle")
    seconds = _required(request, "VisibilityTimeout", "MissingVisibilityTimeout")
    message = queue.change_visibility(handle, parse_int("VisibilityTimeout", seconds, 1, 43200))
    return xml_response(xml.visibility(message))


def _required(request: web.Request, name: str, code: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise MnsError(400, code, f"{name} is required.")
    return value
