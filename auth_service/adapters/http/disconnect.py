"""Stop working for a client that has gone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# Not sent to anyone (the client is gone): it is what the access log records, as nginx does.
CLIENT_CLOSED_REQUEST = 499


class CancelOnDisconnect:
    """On the given (method, path) routes, cancels the request's handler when the client disconnects before the
    response has started, so that a password hash still waiting in the queue is dropped instead of computed for
    nobody.

    Uvicorn keeps running a handler after its client has gone and only reports `http.disconnect` to whoever
    calls `receive()`; once the body has been read, a watcher does that for the handler.
    """

    def __init__(self, app: ASGIApp, routes: Collection[tuple[str, str]]) -> None:
        self.app = app
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in self.routes:
            await self.app(scope, receive, send)
            return
        request = _WatchedRequest(receive, send)
        handler = asyncio.ensure_future(self.app(scope, request.receive, request.send))
        watcher = asyncio.ensure_future(request.watch(handler))
        try:
            await handler
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not request.disconnected.is_set() or (current is not None and current.cancelling()):
                raise
            log.info("client disconnected before the response; request abandoned")
            await send({"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST, "headers": []})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()


class _WatchedRequest:
    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.body_read = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.response_started = False

    async def receive(self) -> Message:
        if self.body_read.is_set():  # the watcher owns the real receive() from here on
            await self.disconnected.wait()
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.disconnected.set()
        elif not message.get("more_body", False):
            self.body_read.set()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)

    async def watch(self, handler: asyncio.Future[None]) -> None:
        await self.body_read.wait()
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.disconnected.set()
            if not self.response_started:
                handler.cancel()
