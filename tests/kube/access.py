"""Authorization as the real API server does it: every request is checked (and recorded).

By default everything is allowed, as for a cluster admin. `grant_only(rules)` turns RBAC on with
exactly those rules: any other request answers 403 Forbidden with the real message. A
server-side apply that creates its object is authorized as `patch` and also as `create` (the
real API server does the same). Every authorization is recorded in `used`, so a test can compare
what a client really needs with what it is granted. SelfSubjectAccessReviews answer from the same
rules plus a deny set.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from typing import Any

from tests.kube.errors import ApiStatus, bad_request

Permission = tuple[str, str, str]  # (verb, group, resource[/sub])
USER = "system:serviceaccount:budeval:budeval"


class AccessRules:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._denied: set[Permission] = set()
        self._granted: set[Permission] | None = None  # None: RBAC off, everything allowed
        self._used: set[Permission] = set()
        self._refused: set[Permission] = set()

    def deny(self, verb: str, resource: str, group: str = "") -> None:
        with self._lock:
            self._denied.add((verb, group, resource))

    def allow(self, verb: str, resource: str, group: str = "") -> None:
        with self._lock:
            self._denied.discard((verb, group, resource))

    def grant_only(self, rules: Iterable[tuple[str, str, Iterable[str]]] | None) -> None:
        """RBAC with exactly these (group, resource, verbs) rules; None: allow everything."""
        with self._lock:
            if rules is None:
                self._granted = None
                return
            self._granted = {
                (verb, group, resource) for group, resource, verbs in rules for verb in verbs
            }

    @property
    def used(self) -> set[Permission]:
        with self._lock:
            return set(self._used)

    @property
    def refused(self) -> set[Permission]:
        """Every permission a request was refused for (403)."""
        with self._lock:
            return set(self._refused)

    def reset_used(self) -> None:
        with self._lock:
            self._used.clear()
            self._refused.clear()

    def allowed(self, verb: str, resource: str, group: str = "") -> bool:
        with self._lock:
            candidates = {(v, group, r) for v in (verb, "*") for r in (resource, "*")}
            if candidates & self._denied:
                return False
            return self._granted is None or bool(candidates & self._granted)

    def authorize(
        self, verb: str, group: str, resource: str, namespace: str | None, name: str | None
    ) -> None:
        """Record the request's permission; 403 (the real message) when it is not granted."""
        with self._lock:
            self._used.add((verb, group, resource))
        if self.allowed(verb, resource, group):
            return
        with self._lock:
            self._refused.add((verb, group, resource))
        base = resource.split("/")[0]
        subject = f'{base}.{group} "{name}"' if group and name else base
        subject = f'{base} "{name}"' if name and not group else subject
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        raise ApiStatus(
            403,
            "Forbidden",
            f'{subject} is forbidden: User "{USER}" cannot {verb} resource "{resource}" '
            f'in API group "{group}"{where}',
            {"name": name or "", "kind": base} | ({"group": group} if group else {}),
        )

    def review(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise bad_request("SelfSubjectAccessReview needs a spec")
        review = copy.deepcopy(body)
        review["apiVersion"] = "authorization.k8s.io/v1"
        review["kind"] = "SelfSubjectAccessReview"
        review.setdefault("metadata", {})
        attributes = review["spec"].get("resourceAttributes")
        if attributes is None:
            review["status"] = {"allowed": True}
            return review
        resource = attributes.get("resource", "")
        if attributes.get("subresource"):
            resource = f"{resource}/{attributes['subresource']}"
        ok = self.allowed(attributes.get("verb", ""), resource, attributes.get("group", ""))
        review["status"] = {"allowed": ok}
        if not ok:
            review["status"]["denied"] = True
            review["status"]["reason"] = "denied by the test server's rules"
        return review
