"""The real lm-eval 0.4.13 engine, through a real service, against the deterministic demo endpoint.

The endpoint answers exactly round(accuracy·N) questions of every demo dataset right, so a score
is known in advance to the last digit. The engine environment is installed once (see conftest).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from budeval.backends.local.environment import OFFLINE_SWITCHES
from budeval.demo.endpoint import DemoEndpoint
from budeval.engines.lmeval import LmEvalEngine
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from tests.service import Service, wait_for

KEY = f"sk-lmeval-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def lmeval_python(install_engine: Any) -> Path:
    return install_engine(LmEvalEngine.recipe)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def lm_service(
    tmp_path_factory: pytest.TempPathFactory,
    engine_service_env: dict[str, str],
    lmeval_python: Path,
) -> Iterator[Service]:
    running = Service(tmp_path_factory.mktemp("lmeval-home"), env=engine_service_env).start()
    yield running
    running.stop()


def request(eval_id: str, endpoint: str, datasets: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "eval_id": eval_id,
        "experiment_id": "lmeval-tests",
        "eval_model_info": {
            "model_name": "demo-model",
            "endpoint": endpoint,
            "api_key": KEY,
            "extra_args": extra,
        },
        "eval_datasets": [{"dataset_id": name} for name in datasets],
        "engine": "lmeval",
    }


def run_to_end(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    response = service.start_eval(body)
    assert response.status_code == 201, response.text
    return service.wait_terminal(body["eval_id"], timeout=120)


def scores_of(service: Service, eval_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    results = service.http.get(f"/evals/{eval_id}/results").json()
    return {(score["dataset"], score["metric"]): score for score in results["scores"]}


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def newest(folder: Path, pattern: str) -> Path:
    return sorted(folder.glob(f"*/{pattern}"))[-1]


def run_cli_by_hand(
    python: Path, engine_args: dict[str, Any], data: Path, out: Path, home: Path
) -> None:
    """Replay a run's `lm_eval_args` with the real `lm_eval` command (container paths mapped)."""
    args = [
        str(data) + arg[len("/data") :] if arg.startswith("/data/") else arg
        for arg in engine_args["lm_eval_args"]
    ]
    args[args.index("--output_path") + 1] = str(out)
    env = {
        "PATH": os.environ["PATH"],
        **OFFLINE_SWITCHES,
        "HOME": str(home),
        "HF_HOME": str(home / "hf"),
        "OPENAI_API_KEY": KEY,
    }
    done = subprocess.run(
        [str(python.parent / "lm_eval"), "run", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_demo_arith_scores_exactly_and_matches_the_lm_eval_cli(
    lm_service: Service, lmeval_python: Path, tmp_path: Path
) -> None:
    with DemoEndpoint(accuracy=0.7, api_key=KEY) as endpoint:
        done = run_to_end(lm_service, request("lm-arith", endpoint.url, ["demo_arith"]))
        assert done["status"] == "succeeded", done
        scores = scores_of(lm_service, "lm-arith")
        strict = scores[("demo_arith", "exact_match/strict-match")]
        assert strict["value"] == 0.7 and strict["n_samples"] == 20
        assert strict["engine"] == "lmeval" and strict["engine_version"] == "0.4.13"
        assert scores[("demo_arith", "exact_match/flexible-extract")]["value"] == 0.7

        # fidelity: the same task YAML and arguments through the `lm_eval` command by hand
        run = lm_service.run_dir(done["runs"][0]["run_id"])
        engine_args = json.loads((run / "spec.json").read_text())["engine_args"]
        cli_out = tmp_path / "cli-out"
        run_cli_by_hand(lmeval_python, engine_args, run / "data", cli_out, tmp_path)

    ours = json.loads(newest(run / "output", "results_*.json").read_text())
    theirs = json.loads(newest(cli_out, "results_*.json").read_text())
    for section in ("results", "n-samples", "higher_is_better", "versions", "n-shot", "configs"):
        assert ours[section] == theirs[section], section
    assert ours["config"]["model_args"] == theirs["config"]["model_args"]

    def lines(folder: Path) -> list[dict[str, Any]]:
        text = newest(folder, "samples_demo_arith_*.jsonl").read_text()
        return sorted(
            (json.loads(line) for line in text.splitlines()),
            key=lambda s: (s["doc_id"], s["filter"]),
        )

    assert lines(run / "output") == lines(cli_out)
    # the CLI's own files parse to exactly the scores budeval stored
    spec = EvaluationSpec(
        eval_id="x",
        model=ModelSpec(model_name="m", endpoint="http://h"),
        engine="lmeval",
        datasets=[DatasetRun(dataset_id="demo_arith", run_id="r")],
        secret_name="s",
    )
    by_hand = LmEvalEngine().parse(spec, spec.datasets[0], cli_out)
    assert {(s.metric, s.value, s.n_samples, s.stderr) for s in by_hand.scores} == {
        (metric, score["value"], score["n_samples"], score["stderr"])
        for (_, metric), score in scores.items()
    }
    assert len(by_hand.predictions) == 20
    assert sum(bool(p.correct) for p in by_hand.predictions) == 14


def test_malformed_dataset_fails_its_run_and_the_other_succeeds(lm_service: Service) -> None:
    tasks = lm_service.home / "datasets" / "lmeval"
    tasks.mkdir(parents=True, exist_ok=True)
    (tasks / "broken.jsonl").write_text('{"question": "q1", "answer": "1"}\n{"question": \n')
    (tasks / "broken.yaml").write_text(
        "task: broken\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: broken.jsonl\n"
        "output_type: generate_until\ntest_split: test\ndoc_to_text: '{{question}}'\n"
        "doc_to_target: '{{answer}}'\nmetric_list:\n  - metric: exact_match\n"
    )
    with DemoEndpoint(accuracy=0.7, api_key=KEY) as endpoint:
        expected = endpoint.expected_accuracy("demo_arith_tiny")
        body = request("lm-broken", endpoint.url, ["demo_arith_tiny", "broken"], num_concurrent=2)
        done = run_to_end(lm_service, body)
    assert done["status"] == "partially_failed", done
    runs = {run["dataset_id"]: run for run in done["runs"]}
    assert runs["demo_arith_tiny"]["status"] == "succeeded"
    bad = runs["broken"]
    assert bad["status"] == "failed" and bad["reason"] == "EngineError" and bad["exit_code"] == 1
    last = bad["log_tail"].splitlines()[-1]
    assert last.startswith("lmeval-runner: FAILED: evaluation failed: DatasetGenerationError")
    assert "JSON parse error" in last
    scores = scores_of(lm_service, "lm-broken")
    assert scores[("demo_arith_tiny", "exact_match/strict-match")]["value"] == expected
    assert not any(dataset == "broken" for dataset, _ in scores)


def test_endpoint_going_down_mid_run_fails_the_run_with_the_reason(lm_service: Service) -> None:
    with DemoEndpoint(accuracy=0.7, api_key=KEY) as endpoint:
        endpoint.down_after(1 + 6)  # the pre-flight request, then 6 of the 20 documents
        url = endpoint.url
        body = request("lm-down", url, ["demo_arith"], num_concurrent=2, max_retries=1)
        done = run_to_end(lm_service, body)
    assert done["status"] == "failed", done
    run = done["runs"][0]
    assert run["status"] == "failed" and run["reason"] == "EngineError"
    last = run["log_tail"].splitlines()[-1]
    assert last.startswith(
        f"lmeval-runner: FAILED: evaluation failed: endpoint {url}/chat/completions unreachable: "
    ), run["log_tail"]
    assert scores_of(lm_service, "lm-down") == {}


def test_429_and_500_bursts_are_retried_and_the_score_is_unchanged(lm_service: Service) -> None:
    with DemoEndpoint(accuracy=0.7, api_key=KEY) as endpoint:
        endpoint.set_errors(0.25, burst=2, status="mixed")  # requests 6,7 → 429; 14,15 → 500; …
        done = run_to_end(lm_service, request("lm-bursts", endpoint.url, ["demo_arith"]))
        counts = endpoint.requests
    assert done["status"] == "succeeded", done
    assert counts.status(429) >= 2 and counts.status(500) >= 2, counts
    assert (
        scores_of(lm_service, "lm-bursts")[("demo_arith", "exact_match/strict-match")]["value"]
        == 0.7
    )
    log = (lm_service.run_dir(done["runs"][0]["run_id"]) / "run.log").read_text()
    assert "Status code: 429" in log and "Status code: 500" in log


def test_api_key_stays_out_of_argv_files_and_logs_even_on_a_401(
    tmp_path: Path, engine_service_env: dict[str, str], lmeval_python: Path
) -> None:
    service = Service(tmp_path / "home", env=engine_service_env).start()
    try:
        with DemoEndpoint(accuracy=0.7, api_key=KEY, latency_ms=200) as endpoint:
            body = request("lm-leak", endpoint.url, ["demo_arith"], num_concurrent=2, max_retries=1)
            assert service.start_eval(body).status_code == 201
            running = service.wait_run_status("lm-leak", "running", timeout=60)
            run = service.run_dir(running["runs"][0]["run_id"])
            wait_for(lambda: (run / "engine.json").exists(), 30, "engine.json")
            pid = json.loads((run / "engine.json").read_text())["pid"]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert b"lmeval_runner.py" in cmdline and KEY.encode() not in cmdline
            assert KEY.encode() in Path(f"/proc/{pid}/environ").read_bytes()  # it did get it
            endpoint.fail_next(200, 401)  # every request from now on: lm-eval logs its headers
            done = service.wait_terminal("lm-leak", timeout=120)
        assert done["status"] == "failed", done
        assert "HTTP 401" in done["runs"][0]["log_tail"].splitlines()[-1]
        log = (run / "run.log").read_text()
        assert "'Authorization': 'Bearer ***'" in log  # lm-eval did print it: redacted
        assert KEY not in json.dumps(service.show("lm-leak"))
    finally:
        service.stop()
    leaks = files_containing(service.home, KEY.encode())
    assert leaks == [], f"API key found in {leaks}"
    assert (run / "launch.json").exists() and (run / "spec.json").exists()
