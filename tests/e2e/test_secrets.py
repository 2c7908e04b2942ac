"""The API key reaches the engine process and nothing else: no DB row, log, event or response."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.service import Service, smoke_request


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_api_key_never_leaks(fresh_service: Service) -> None:
    service = fresh_service.start()
    key = f"sk-LEAKCHECK-{uuid.uuid4().hex}"
    body = smoke_request(
        "leak-1", ["smoke-ok", "smoke-bad"], per_dataset={"smoke-bad": {"exit_code": 2}}
    )
    body["eval_model_info"]["api_key"] = key
    responses = [service.start_eval(body), service.start_eval(body)]
    done = service.wait_terminal("leak-1")
    assert done["status"] == "partially_failed"
    run_ids = [run["run_id"] for run in done["runs"]]
    # the engine did receive it (the smoke program reports presence, never the value)
    log = (service.run_dir(run_ids[0]) / "run.log").read_text()
    assert "api key present: True" in log

    responses += [
        service.http.get("/evals/leak-1"),
        service.http.get("/evals"),
        service.http.get("/evals/leak-1/results"),
        service.http.get("/evals/status/leak-1"),
        service.http.get(f"/evals/status/{run_ids[0]}"),
        service.http.post("/evals/leak-1/cancel"),  # 409: already terminal
        service.http.get("/openapi.json"),
    ]
    conflicting = dict(body, eval_configs=[])
    responses.append(service.start_eval(conflicting))
    for response in responses:
        assert key not in response.text, response.request.url

    service.stop()  # flush everything the service writes, then grep all of it
    leaks = files_containing(service.home, key.encode())
    assert leaks == [], f"API key found in {leaks}"
    assert "leak-1" in service.log_path.read_text()  # the grep did look at real logs
    secrets = service.home / "secrets"
    assert list(secrets.iterdir()) == []  # the secret is deleted when the evaluation ends
