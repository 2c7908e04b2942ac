"""OpenCompass for real: the installed engine, a real service process, the demo endpoint.

Each OpenCompass run takes 30 to 40 s, so one evaluation checks several things where that is
honest: exact score and stored predictions, a broken dataset failing alone (partially_failed),
429/500 bursts retried with the score unchanged, and no trace of the key on disk or in argv;
a hand-run `opencompass` CLI on the same data runs beside it for the fidelity check. The
environment is installed once (see conftest.py) and reused.
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from budeval.demo.endpoint import DemoEndpoint
from budeval.engines.opencompass.datasets import CONFIGS
from budeval.engines.opencompass.recipe import RECIPE, TIKTOKEN_CACHE
from budeval.store.store import Store
from tests.service import Service, wait_for

pytestmark = pytest.mark.slow

KEY = f"sk-oc-{secrets.token_hex(12)}"
MODEL = "demo \"model\" 'x' ]) \\ # {not code}"
"""Quotes, brackets, a backslash (the API refuses control characters; the adapter tests cover
newlines): the config must carry it as one string literal, byte for byte."""


@pytest.fixture(scope="module")
def oc_python(install_engine: Any) -> Path:
    return Path(install_engine(RECIPE))


@pytest.fixture(scope="module")
def oc_service(
    tmp_path_factory: pytest.TempPathFactory, oc_python: Path, engine_service_env: dict[str, str]
) -> Iterator[Service]:
    env = {**engine_service_env, "BUDEVAL_LOCAL_CONCURRENCY": "4"}
    service = Service(tmp_path_factory.mktemp("oc-home"), env=env).start()
    yield service
    service.stop()


def request(eval_id: str, datasets: list[str], endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "eval_id": eval_id,
        "experiment_id": "opencompass-tests",
        "eval_model_info": {
            "model_name": MODEL,
            "endpoint": endpoint,
            "api_key": KEY,
            "extra_args": extra,
        },
        "eval_datasets": [{"dataset_id": name} for name in datasets],
        "engine": "opencompass",
    }


def runs_by_dataset(evaluation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["dataset_id"]: run for run in evaluation["runs"]}


def argv_with_key() -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if KEY.encode() in cmdline.read_bytes():
                found.append(str(cmdline))
        except OSError:
            continue
    return found


def files_with_key(root: Path) -> list[str]:
    needle = KEY.encode()
    return [str(path) for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


HAND_CONFIG = """\
from opencompass.models import OpenAISDK
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.openicl.icl_retriever import ZeroRetriever
from opencompass.openicl.icl_inferencer import GenInferencer
from opencompass.datasets import (CustomDataset, Gsm8kEvaluator,
                                  gsm8k_postprocess, gsm8k_dataset_postprocess)

datasets = [dict(
    abbr='demo_arith', type=CustomDataset, path=PATH,
    reader_cfg=dict(input_columns=['question'], output_column='answer'),
    infer_cfg=dict(
        prompt_template=dict(type=PromptTemplate, template=dict(round=[
            dict(role='HUMAN', prompt="Question: {question}\\nLet's think step by step\\nAnswer:"),
        ])),
        retriever=dict(type=ZeroRetriever), inferencer=dict(type=GenInferencer)),
    eval_cfg=dict(evaluator=dict(type=Gsm8kEvaluator),
                  pred_postprocessor=dict(type=gsm8k_postprocess),
                  dataset_postprocessor=dict(type=gsm8k_dataset_postprocess)),
)]
models = [dict(
    abbr='by-hand', type=OpenAISDK, path=MODEL, openai_api_base=BASE, key='ENV',
    tokenizer_path='gpt-4',
    meta_template=dict(round=[dict(role='HUMAN', api_role='HUMAN'),
                              dict(role='BOT', api_role='BOT', generate=True)]),
    query_per_second=10, max_out_len=1024, max_seq_len=4096, batch_size=8, retry=4,
    temperature=0.0,
)]
"""


def start_by_hand(python: Path, data: Path, endpoint: str, work: Path) -> subprocess.Popen[bytes]:
    """The same evaluation through the `opencompass` CLI directly, as a user would run it."""
    work.mkdir(parents=True)
    config = HAND_CONFIG.replace("PATH", repr(str(data))).replace("MODEL", repr(MODEL))
    (work / "config.py").write_text(config.replace("BASE", repr(endpoint + "/")))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work),
        "OPENAI_API_KEY": KEY,
        "TIKTOKEN_CACHE_DIR": str(python.parent.parent / TIKTOKEN_CACHE),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    argv = [str(python.parent / "opencompass"), "config.py", "-w", "out", "--max-num-workers", "2"]
    log = (work / "cli.log").open("wb")
    return subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_allowlisted_configs_exist_in_the_installed_package(oc_python: Path) -> None:
    site = next((oc_python.parent.parent / "lib").glob("python3*/site-packages"))
    for name, (module, variable) in CONFIGS.items():
        path = site / (module.replace(".", "/") + ".py")
        assert path.exists(), f"{name}: {path} missing"
        tree = ast.parse(path.read_text())
        bound = {
            t.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        bound |= {
            a.asname or a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom)
            for a in n.names
        }
        assert variable in bound, f"{name}: {variable} not defined in {path}"
    assert (oc_python.parent.parent / TIKTOKEN_CACHE).is_dir()


def test_scores_exactly_isolates_a_broken_dataset_retries_bursts_and_leaks_no_key(
    oc_service: Service, oc_python: Path, tmp_path: Path
) -> None:
    custom = oc_service.home / "datasets" / "opencompass"
    custom.mkdir(parents=True, exist_ok=True)
    good = '{"question": "What is 1+1?", "answer": "2"}\n'
    (custom / "broken.jsonl").write_text(good + good + '{"question": "oops", "answer": \n')
    demo_arith = oc_service.home / "datasets" / "demo" / "demo_arith.jsonl"

    with (
        DemoEndpoint(accuracy=0.7, api_key=KEY, model=MODEL) as endpoint,
        DemoEndpoint(accuracy=0.7, api_key=KEY, model=MODEL) as other,
    ):
        by_hand = start_by_hand(oc_python, demo_arith, other.url, tmp_path / "by-hand")
        datasets = ["demo_arith", "broken", "demo_gsm8k_chat_gen", "demo_mcq"]
        body = request("oc-main", datasets, endpoint.url, max_retries=3)
        assert oc_service.start_eval(body).status_code == 201, "start refused"

        def arith_running() -> bool:
            run = runs_by_dataset(oc_service.show("oc-main")).get("demo_arith")
            return run is not None and run["status"] == "running"

        wait_for(arith_running, 60, "the demo_arith run to start")
        assert (
            endpoint.expected_accuracy("demo_arith")
            == endpoint.expected_accuracy("demo_mcq")
            == 0.7
        )
        endpoint.fail_next(3, 429)  # OpenCompass needs ~10 s to import: these hit its requests
        endpoint.fail_next(3, 500)
        assert argv_with_key() == []
        done = oc_service.wait_terminal("oc-main", timeout=240)
        assert by_hand.wait(timeout=180) == 0
        traffic = endpoint.requests

    runs = runs_by_dataset(done)
    assert done["status"] == "partially_failed", done
    assert {name: run["status"] for name, run in runs.items() if name != "broken"} == {
        "demo_arith": "succeeded",
        "demo_gsm8k_chat_gen": "succeeded",  # the seeds' default, on the demo_arith rows
        "demo_mcq": "succeeded",
    }
    broken = runs["broken"]
    assert (broken["status"], broken["reason"]) == ("failed", "EngineError")
    last = broken["log_tail"].strip().splitlines()[-1]
    assert (
        last == "opencompass run failed: dataset broken: line 3 is not JSON: Expecting value: "
        "line 1 column 32 (char 31)"
    ), last

    assert (traffic.status(429), traffic.status(500)) == (3, 3)  # served, then retried
    scores = oc_service.http.get("/evals/oc-main/results").json()["scores"]
    assert sorted((s["dataset"], s["metric"], s["value"], s["n_samples"]) for s in scores) == [
        ("demo_arith", "accuracy", 0.7, 20),
        ("demo_gsm8k_chat_gen", "accuracy", 0.7, 20),
        ("demo_mcq", "accuracy", 0.7, 20),
    ]
    with Store(f"sqlite:///{oc_service.home / 'budeval.sqlite'}") as store:
        predictions = store.get_predictions(runs["demo_arith"]["run_id"], limit=1000)
    assert len(predictions) == 20 and sum(bool(p.correct) for p in predictions) == 14
    assert all(p.prompt and "Problem" in p.prompt and p.gold and p.prediction for p in predictions)

    # fidelity: the CLI run by hand on the same data scores the same over the same samples
    [result] = (tmp_path / "by-hand" / "out").glob("*/results/by-hand/demo_arith.json")
    document = json.loads(result.read_text())
    assert (document["accuracy"] / 100, len(document["details"])) == (0.7, 20)

    # the key: in no file of the service's data dir (run dirs, OpenCompass's configs/ and tmp/,
    # logs, the database), and in no argv (checked while the run was live)
    assert files_with_key(oc_service.home) == []
    dumped = list(oc_service.home.glob("runs/*/output/*/configs/*.py"))
    assert dumped and all("key='ENV'" in path.read_text() for path in dumped)


def test_endpoint_down_mid_run_fails_the_run_with_a_reason(oc_service: Service) -> None:
    with DemoEndpoint(accuracy=0.7, api_key=KEY, model=MODEL, latency_ms=200) as endpoint:
        endpoint.down_after(1 + 6)  # the pre-flight probe, then 6 answers, then refused
        body = request("oc-down", ["demo_arith"], endpoint.url, max_retries=1)
        assert oc_service.start_eval(body).status_code == 201
        done = oc_service.wait_terminal("oc-down", timeout=150)
    [run] = done["runs"]
    assert (done["status"], run["status"], run["reason"]) == ("failed", "failed", "EngineError")
    last = run["log_tail"].strip().splitlines()[-1]
    assert last.startswith("opencompass run failed: dataset demo_arith: no results file"), last
    assert "failed after retrying for 2 times" in last, last  # max_retries=1: 2 attempts
    assert "Last API error: Connection error." in last, last
    assert files_with_key(oc_service.home) == []
