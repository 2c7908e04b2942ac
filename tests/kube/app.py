"""The HTTP edge: a raw ASGI app that parses requests, applies faults, counts, and answers.

Handlers live elsewhere (`api`, `deletion`, `access`, `watch`, `logs`); this module only
translates between HTTP and them, and turns every `ApiStatus` into a Status body.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from tests.kube import deletion, routes
from tests.kube.api import APPLY
from tests.kube.cluster import Cluster
from tests.kube.errors import ApiStatus, bad_request, status_body
from tests.kube.podlog import serve_log
from tests.kube.routes import Route
from tests.kube.selectors import combine, field_selector, label_selector
from tests.kube.watch import CLOSE, Watch

log = logging.getLogger(__name__)
JSON = [(b"content-type", b"application/json")]
TIMEOUT_MESSAGE = (
    "the server was unable to return a response in the time allotted, but may still be "
    "processing the requested operation"
)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


async def send_json(send: Any, code: int, obj: Any) -> None:
    body = dumps(obj)
    headers = [*JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Request:
    def __init__(self, scope: dict[str, Any], body: bytes) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        raw = parse_qs(scope.get("query_string", b"").decode(), keep_blank_values=True)
        self.query = {k: v[-1] for k, v in raw.items()}
        self.headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        self.body = body
        server = scope.get("server") or ("127.0.0.1", 0)
        self.host = f"{server[0]}:{server[1]}"

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("true", "1")

    def int_param(self, name: str) -> int | None:
        value = self.query.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"invalid {name}: {value!r}") from None

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as error:
            raise bad_request(f"invalid JSON body: {error}") from None


class App:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Request(scope, body)
        try:
            await self._serve(request, receive, send)
        except ApiStatus as error:
            await send_json(send, error.code, error.body())
        except Exception as error:  # a bug in the double must still answer a Status
            log.exception("kube test server failed on %s %s", request.method, request.path)
            await send_json(send, 500, status_body(500, "InternalError", repr(error)))

    async def _serve(self, request: Request, receive: Any, send: Any) -> None:
        cluster = self.cluster
        document = routes.discovery(request.path, request.host)
        if document is not None:
            cluster.requests.add("get", "discovery")
            await self._faults()
            if not document:
                raise ApiStatus(404, "NotFound", "the server could not find the requested resource")
            await send_json(send, 200, document)
            return
        route = routes.resolve(request.method, request.path, request.flag("watch"))
        cluster.requests.add(route.verb, route.resource)
        self._authorize(route, request)
        if route.verb == "watch":
            await self._watch(route, request, receive, send)
            return
        await self._faults()
        if route.sub == "log":
            await serve_log(cluster, route, request.query, send)
            return
        code, result = self._handle(route, request)
        await send_json(send, code, result)

    def _authorize(self, route: Route, request: Request) -> None:
        """RBAC: the request's verb; an apply that creates its object needs `create` too."""
        group, resource = route.rtype.group, route.resource
        verbs = [route.verb]
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if route.verb == "patch" and content_type == APPLY and not route.sub:
            namespace = (route.namespace if route.rtype.namespaced else "") or ""
            if self.cluster.store.get(route.rtype.plural, namespace, route.name or "") is None:
                verbs.append("create")
        for verb in verbs:
            self.cluster.access.authorize(verb, group, resource, route.namespace, route.name)

    async def _faults(self) -> None:
        decision = self.cluster.faults.decide()
        if decision is None:
            return
        what, value = decision
        if what == "timeout":
            deadline = asyncio.get_running_loop().time() + value
            while not self.cluster.stopping and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(min(0.05, value))  # a hung request, released on stop
            raise ApiStatus(504, "Timeout", TIMEOUT_MESSAGE, {"retryAfterSeconds": 1})
        reason = {500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests"}
        code = int(value)
        raise ApiStatus(code, reason.get(code, "InternalError"), f"injected fault ({code})")

    def _handle(self, route: Route, request: Request) -> tuple[int, Any]:
        cluster, rtype, verb = self.cluster, route.rtype, route.verb
        namespace = route.namespace or ""
        manager = request.query.get("fieldManager")
        if rtype.plural == "selfsubjectaccessreviews":
            if verb != "create":
                raise ApiStatus(405, "MethodNotAllowed", "only create is supported")
            return 201, cluster.access.review(request.json())
        if verb == "get":
            return 200, cluster.api.get(rtype, namespace, route.name or "")
        if verb in ("list", "deletecollection"):
            match = combine(
                label_selector(request.query.get("labelSelector")),
                field_selector(request.query.get("fieldSelector")),
            )
            if verb == "deletecollection":
                policy = self._policy(request)
                return 200, deletion.delete_collection(
                    cluster.store, rtype, route.namespace, match, policy
                )
            limit, token = request.int_param("limit"), request.query.get("continue")
            return 200, cluster.api.list(rtype, route.namespace, match, limit, token)
        if verb == "create":
            return 201, cluster.api.create(rtype, namespace, request.json(), manager)
        name = route.name or ""
        if verb == "update":
            return 200, cluster.api.replace(
                rtype, namespace, name, request.json(), route.sub, manager
            )
        if verb == "patch":
            content_type = request.headers.get("content-type", "")
            return 200, cluster.api.patch(
                rtype, namespace, name, request.body, content_type, route.sub, manager
            )
        return 200, deletion.delete(cluster.store, rtype, namespace, name, self._policy(request))

    def _policy(self, request: Request) -> str | None:
        policy = request.query.get("propagationPolicy")
        if policy:
            return policy
        body = request.json() if request.body else None
        if isinstance(body, dict):
            if body.get("propagationPolicy"):
                return body["propagationPolicy"]
            if body.get("orphanDependents") is False:
                return "Background"
        return None

    async def _watch(self, route: Route, request: Request, receive: Any, send: Any) -> None:
        cluster = self.cluster
        match = combine(
            label_selector(request.query.get("labelSelector")),
            field_selector(request.query.get("fieldSelector")),
        )
        watch = Watch(
            cluster.store,
            route.rtype,
            route.namespace,
            match,
            bookmarks=request.flag("allowWatchBookmarks"),
            bookmark_interval=cluster.bookmark_interval,
        )
        timeout = request.int_param("timeoutSeconds")
        replay = watch.open(request.query.get("resourceVersion"))
        cluster.hub.add(watch)
        disconnect = asyncio.create_task(_until_disconnect(receive, watch))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": JSON})
            async for chunk in watch.lines(replay, timeout):
                if chunk is None:
                    return  # an incomplete response: the server closes the connection abruptly
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            cluster.hub.discard(watch)
            watch.close()
            disconnect.cancel()


async def _until_disconnect(receive: Any, watch: Watch) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            watch.signal(CLOSE)
            return
