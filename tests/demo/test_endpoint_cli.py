"""`python -m budeval.demo.endpoint`: flags, the printed URL, the key from the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from budeval.demo import endpoint, endpoint_cli

KEY = "sk-demo-cli-5be1"


def test_the_process_prints_its_url_not_its_key_and_stops_on_sigterm() -> None:
    env = {**os.environ, endpoint.KEY_ENV: KEY}
    command = [sys.executable, "-m", "budeval.demo.endpoint", "--port", "0", "--accuracy", "1"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.split(" listening on ")[1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert httpx.get(f"{url}/models").status_code == 401
        headers = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(f"{url}/models", headers=headers).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        output = first + process.stdout.read()
    finally:
        process.kill()
        process.wait()
    assert KEY not in output and "api key: required" in output


def test_flags_map_onto_the_config() -> None:
    flags = "--port 8123 --error-rate 0.1 --error-burst 3 --error-status mixed --mode chat"
    flags += f" --model m --latency-ms 5 --api-key {KEY}"
    config = endpoint_cli.parse(flags.split(), env_key="from-env")
    assert (config.port, config.error_rate, config.error_burst, config.error_status) == (
        (8123, 0.1, 3, "mixed")
    )
    assert (config.mode, config.model, config.latency_ms, config.api_key) == ("chat", "m", 5, KEY)
    assert KEY not in repr(config)
    assert endpoint_cli.parse([], env_key="from-env").api_key == "from-env"
    assert endpoint_cli.parse([], env_key=None).api_key is None


@pytest.mark.parametrize(
    "argv", [["--accuracy", "1.5"], ["--error-burst", "0"], ["--datasets-dir", "/nonexistent"]]
)
def test_out_of_range_values_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert endpoint.main(argv) == 2
    assert "demo-endpoint:" in capsys.readouterr().err
