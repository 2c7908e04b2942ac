"""Bearer tokens: required on every evaluation route once configured; probes stay open."""

from __future__ import annotations

from pathlib import Path

from tests.service import Service, smoke_request


def test_tokens_are_enforced(tmp_path: Path) -> None:
    service = Service(tmp_path / "home", env={"BUDEVAL_API_TOKENS": "tok-1,tok-2"}).start()
    try:
        assert service.http.get("/healthz").status_code == 200
        assert service.http.get("/readyz").status_code == 200
        anonymous = service.start_eval(smoke_request("auth-1"))
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        wrong = service.http.get("/evals", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = {"Authorization": "Bearer tok-2"}
        assert (
            service.http.post(
                "/evals/start", json=smoke_request("auth-1"), headers=good
            ).status_code
            == 201
        )
        assert service.http.get("/evals", headers=good).json()["total"] == 1
    finally:
        service.stop()
