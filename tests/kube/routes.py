"""URL → (resource type, namespace, name, subresource) and HTTP method → API verb."""

from __future__ import annotations

from dataclasses import dataclass

from tests.kube import resources
from tests.kube.errors import ApiStatus
from tests.kube.resources import ResourceType


@dataclass(frozen=True)
class Route:
    rtype: ResourceType
    namespace: str | None  # None: cluster-scoped, or all namespaces for a namespaced list
    name: str | None
    sub: str
    verb: str

    @property
    def resource(self) -> str:
        return f"{self.rtype.plural}/{self.sub}" if self.sub else self.rtype.plural


def _not_found(path: str) -> ApiStatus:
    return ApiStatus(404, "NotFound", "the server could not find the requested resource", {})


def discovery(path: str, host: str) -> dict | None:
    """The discovery document at `path`, or None when `path` is not a discovery URL."""
    parts = [p for p in path.split("/") if p]
    if parts == ["version"]:
        return resources.version_info()
    if parts == ["api"]:
        return resources.api_versions(host)
    if parts == ["apis"]:
        return resources.api_group_list()
    if parts == ["api", "v1"]:
        return resources.api_resource_list("v1")
    if len(parts) == 2 and parts[0] == "apis":
        return resources.api_group(parts[1]) or {}
    if len(parts) == 3 and parts[0] == "apis":
        return resources.api_resource_list(f"{parts[1]}/{parts[2]}") or {}
    return None


def resolve(method: str, path: str, watch: bool) -> Route:
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _not_found(path)
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        candidate = resources.lookup(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise _not_found(path)
    rtype = resources.lookup(group, version, rest[0])
    if rtype is None:
        raise _not_found(path)
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in rtype.subresources:
        raise _not_found(path)
    if rtype.namespaced and namespace is None and (name is not None or method != "GET"):
        raise _not_found(path)
    if not rtype.namespaced and rtype.plural == "namespaces":
        namespace = None
    return Route(rtype, namespace, name, sub, _verb(method, name, watch))


def _verb(method: str, name: str | None, watch: bool) -> str:
    verbs = {
        ("GET", True): "get",
        ("GET", False): "watch" if watch else "list",
        ("POST", False): "create",
        ("PUT", True): "update",
        ("PATCH", True): "patch",
        ("DELETE", True): "delete",
        ("DELETE", False): "deletecollection",
    }
    verb = verbs.get((method, name is not None))
    if verb is None:
        raise ApiStatus(405, "MethodNotAllowed", f"{method} is not supported here")
    return verb
