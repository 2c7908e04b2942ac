"""A small HTTP client for the budeval API, used by the CLI and the demo.

Errors come back as problem+json; `ApiError` carries its status and detail for display.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8080"


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class Client:
    def __init__(self, server: str | None = None, token: str | None = None) -> None:
        server = server or os.environ.get("BUDEVAL_SERVER", DEFAULT_SERVER)
        token = token or os.environ.get("BUDEVAL_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=server, headers=headers, timeout=30.0)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        _raise_for(response)
        return None if response.status_code == 204 else response.json()

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/evals/start", json=body)  # type: ignore[no-any-return]

    def show(self, eval_id: str) -> dict[str, Any]:
        return self._call("GET", f"/evals/{eval_id}")  # type: ignore[no-any-return]

    def list(self, **filters: Any) -> dict[str, Any]:
        params = {key: value for key, value in filters.items() if value is not None}
        return self._call("GET", "/evals", params=params)  # type: ignore[no-any-return]

    def results(self, eval_id: str) -> dict[str, Any]:
        return self._call("GET", f"/evals/{eval_id}/results")  # type: ignore[no-any-return]

    def predictions(self, eval_id: str, **filters: Any) -> dict[str, Any]:
        params = {key: value for key, value in filters.items() if value is not None}
        path = f"/evals/{eval_id}/predictions"
        return self._call("GET", path, params=params)  # type: ignore[no-any-return]

    def cancel(self, eval_id: str) -> dict[str, Any]:
        return self._call("POST", f"/evals/{eval_id}/cancel")  # type: ignore[no-any-return]

    def cleanup(self, job_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/evals/cleanup/{job_id}")  # type: ignore[no-any-return]

    def logs(
        self, eval_id: str, run_id: str, *, tail: int | None = None, follow: bool = False
    ) -> Iterator[str]:
        """The run's log, chunk by chunk as the service streams it (until the run ends)."""
        params: dict[str, Any] = {"follow": follow}
        if tail is not None:
            params["tail"] = tail
        timeout = httpx.Timeout(30.0, read=None if follow else 30.0)
        path = f"/evals/{eval_id}/runs/{run_id}/logs"
        with self.http.stream("GET", path, params=params, timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            yield from response.iter_text()

    def clusters(self) -> list[dict[str, Any]]:
        return self._call("GET", "/clusters")  # type: ignore[no-any-return]

    def add_cluster(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/clusters", json=body)  # type: ignore[no-any-return]

    def remove_cluster(self, name: str) -> None:
        self._call("DELETE", f"/clusters/{name}")

    def ready(self) -> bool:
        try:
            return self.http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
        detail = body.get("detail", response.text)
        for issue in body.get("errors", []):
            detail += f"\n  {issue['field']}: {issue['message']}"
    except ValueError:
        detail = response.text
    raise ApiError(response.status_code, detail)
