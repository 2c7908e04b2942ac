"""The demo endpoint over real HTTP: key, modes, injected faults, latency, outages, request log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from budeval.demo.endpoint import DemoEndpoint
from tests.demo.helpers import ask

KEY = "sk-demo-test-0d9c2f"
CHAT = {"model": "demo-model", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def endpoint() -> Iterator[DemoEndpoint]:
    with DemoEndpoint() as running:
        yield running


def statuses(endpoint: DemoEndpoint, count: int) -> list[int]:
    with httpx.Client(base_url=endpoint.url) as client:
        return [client.post("/chat/completions", json=CHAT).status_code for _ in range(count)]


def test_url_ends_in_v1_on_a_free_port(endpoint: DemoEndpoint) -> None:
    assert endpoint.port > 0 and endpoint.url == f"http://127.0.0.1:{endpoint.port}/v1"


@pytest.mark.parametrize("header", [None, "Bearer wrong", KEY, f"Basic {KEY}"])
def test_a_missing_or_wrong_key_gets_401(header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    with DemoEndpoint(api_key=KEY) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        for response in (client.get("/models", headers=headers), ask(client, "chat", "hello")):
            assert response.status_code == 401
            error = response.json()["error"]
            assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
            assert KEY not in response.text
        right = {"Authorization": f"Bearer {KEY}"}
        assert client.post("/chat/completions", json=CHAT, headers=right).status_code == 200
        assert endpoint.requests.status(401) == 2


@pytest.mark.parametrize(
    ("mode", "served", "refused"),
    [("chat", "chat", "completions"), ("completions", "completions", "chat")],
)
def test_mode_restricts_the_served_api(mode: str, served: str, refused: str) -> None:
    with DemoEndpoint(mode=mode) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        assert ask(client, served, "hello").status_code == 200
        response = ask(client, refused, "hello")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        assert client.get("/models").status_code == 200


def test_bad_requests_get_openai_errors(endpoint: DemoEndpoint) -> None:
    with httpx.Client(base_url=endpoint.url) as client:
        cases = [
            (ask(client, "chat", "hi", stream=True), 400, "Streaming is not supported"),
            (client.post("/chat/completions", content=b"{not json"), 400, "not valid JSON"),
            (client.post("/chat/completions", json={"messages": []}), 400, "messages"),
            (client.post("/completions", json={"prompt": [70000]}), 400, "byte-level"),
            (client.post("/chat/completions", json={**CHAT, "model": "gpt-9"}), 404, "gpt-9"),
            (client.get("/nowhere"), 404, "/nowhere"),
        ]
        for response, status, words in cases:
            assert response.status_code == status and words in response.json()["error"]["message"]
        assert client.get("/models/demo-model").json()["id"] == "demo-model"


def test_error_bursts_follow_the_schedule_then_recover() -> None:
    with DemoEndpoint(error_rate=0.25, error_burst=2, error_status="mixed") as endpoint:
        # period 8: requests 6 and 7 of every 8 fail; bursts alternate 429, 500.
        assert statuses(endpoint, 16) == [200] * 6 + [429, 429] + [200] * 6 + [500, 500]
        counts = endpoint.requests
        assert (counts.total, counts.status(429), counts.status(500)) == (16, 2, 2)
        endpoint.set_errors(0.0)
        assert statuses(endpoint, 10) == [200] * 10


def test_a_429_carries_retry_after_and_models_are_never_faulted() -> None:
    with DemoEndpoint(error_rate=1.0, error_burst=3) as endpoint:
        with httpx.Client(base_url=endpoint.url) as client:
            assert client.get("/models").status_code == 200
            response = client.post("/chat/completions", json=CHAT)
        assert response.status_code == 429 and response.headers["Retry-After"] == "0"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_fail_next_injects_an_exact_burst(endpoint: DemoEndpoint) -> None:
    endpoint.fail_next(3, 500)
    endpoint.fail_next(1, 429)
    assert statuses(endpoint, 6) == [500, 500, 500, 429, 200, 200]
    assert endpoint.requests.by_status == {500: 3, 429: 1, 200: 2}
    endpoint.reset_counts()
    assert endpoint.requests.total == 0


def test_latency_is_served_concurrently() -> None:
    with DemoEndpoint(latency_ms=300) as endpoint:
        results: list[int] = []

        def one() -> None:
            with httpx.Client(base_url=endpoint.url, timeout=10) as client:
                results.append(client.post("/chat/completions", json=CHAT).status_code)

        threads = [threading.Thread(target=one) for _ in range(10)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [200] * 10
        assert time.monotonic() - started >= 0.3
        assert endpoint.requests.max_in_flight >= 5


def test_go_down_refuses_connections_and_come_back_serves_again(endpoint: DemoEndpoint) -> None:
    with httpx.Client(base_url=endpoint.url) as client:
        assert client.post("/chat/completions", json=CHAT).status_code == 200
        endpoint.go_down()
        assert not endpoint.up
        for fresh in (False, True):
            with pytest.raises(httpx.ConnectError):
                (httpx.Client(base_url=endpoint.url) if fresh else client).get("/models")
        endpoint.come_back()
        assert client.post("/chat/completions", json=CHAT).status_code == 200


def test_go_down_cuts_a_request_in_flight() -> None:
    with DemoEndpoint(latency_ms=2000) as endpoint:
        errors: list[Exception] = []

        def one() -> None:
            try:
                httpx.post(f"{endpoint.url}/chat/completions", json=CHAT, timeout=10)
            except httpx.TransportError as error:
                errors.append(error)

        thread = threading.Thread(target=one)
        thread.start()
        while endpoint.requests.in_flight == 0:
            time.sleep(0.01)
        endpoint.go_down()
        thread.join()
        assert len(errors) == 1 and not isinstance(errors[0], httpx.ConnectError)
        assert endpoint.requests.dropped == 1


def test_down_after_answers_exactly_n_then_comes_back(endpoint: DemoEndpoint) -> None:
    endpoint.down_after(3, down_for=0.5)
    outcomes: list[int | str] = []
    with httpx.Client(base_url=endpoint.url) as client:
        for _ in range(5):
            try:
                outcomes.append(client.post("/chat/completions", json=CHAT).status_code)
            except httpx.TransportError as error:
                outcomes.append(type(error).__name__)
        assert outcomes[:3] == [200, 200, 200]
        assert all(isinstance(outcome, str) for outcome in outcomes[3:])
        deadline = time.monotonic() + 5
        while not endpoint.up and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.post("/chat/completions", json=CHAT).status_code == 200


def test_the_request_log_never_holds_the_key(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    right, wrong = {"Authorization": f"Bearer {KEY}"}, {"Authorization": f"Bearer {KEY}x"}
    with DemoEndpoint(api_key=KEY, log=log) as endpoint, httpx.Client(base_url=endpoint.url) as c:
        assert c.post("/chat/completions", json=CHAT, headers=right).status_code == 200
        leaky = {"model": "demo-model", "prompt": f"my key is {KEY}"}
        assert c.post("/completions", json=leaky, headers=right).status_code == 200
        assert c.get("/models", headers=wrong).status_code == 401
    text = log.read_text()
    assert KEY not in text and "Authorization" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["status"] for r in records] == [200, 200, 401]
    assert records[0]["request"] == CHAT and records[0]["answers"] == ["I don't know."]
    assert records[1]["request"]["prompt"] == "my key is ***"
