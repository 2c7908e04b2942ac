"""What a request says reaches the real engines, and per-sample gold means one thing for both.

Real OpenCompass 0.5.4 and lm-eval 0.4.13 (installed once, see conftest.py), a real service, the
demo endpoint recording every request body:
- OpenCompass built-in configs set their own `max_out_len` (gsm8k_gen_1d7fe4: 512), which
  OpenCompass keeps over the model's; a request's `max_out_len` must still be what the endpoint
  receives as `max_tokens` — checked on a real run, and on every allowlisted config as OpenCompass
  loads it (mmengine) and resolves it (`OpenICLInferTask`: the model's value only where the
  dataset sets none).
- `gold` from `GET /evals/{id}/predictions` is the processed reference both engines compared
  (`72`, not the raw `a+b-c=72\\n#### 72`), equal across engines on the same rows.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from budeval.demo import datasets as demo_datasets
from budeval.demo.endpoint import DemoEndpoint
from budeval.engines.lmeval import LmEvalEngine
from budeval.engines.opencompass.datasets import CONFIGS
from budeval.engines.opencompass.recipe import RECIPE
from budeval.runners import opencompass_runner
from tests.engines.test_opencompass_runner import runner_args
from tests.service import Service

pytestmark = pytest.mark.slow
KEY = "sk-settings-0123456789"
RUNNERS = Path(opencompass_runner.__file__).parent


@pytest.fixture(scope="module")
def pythons(install_engine: Any) -> dict[str, Path]:
    assert LmEvalEngine.recipe is not None
    return {"opencompass": install_engine(RECIPE), "lmeval": install_engine(LmEvalEngine.recipe)}


@pytest.fixture(scope="module")
def settings_service(
    tmp_path_factory: pytest.TempPathFactory,
    pythons: dict[str, Path],
    engine_service_env: dict[str, str],
) -> Iterator[Service]:
    env = {**engine_service_env, "BUDEVAL_LOCAL_CONCURRENCY": "3"}
    service = Service(tmp_path_factory.mktemp("settings-home"), env=env).start()
    # gsm8k's own data is not installed here: its config reads the tiny demo rows instead
    gsm8k = service.home / "datasets" / "opencompass" / "data" / "gsm8k"
    gsm8k.mkdir(parents=True)
    for split in ("train", "test"):
        shutil.copyfile(
            service.home / "datasets/demo/demo_arith_tiny.jsonl", gsm8k / f"{split}.jsonl"
        )
    yield service
    service.stop()


def body(eval_id: str, engine: str, url: str, datasets: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "eval_id": eval_id,
        "eval_model_info": {
            "model_name": "demo-model",
            "endpoint": url,
            "api_key": KEY,
            "extra_args": extra,
        },
        "eval_datasets": [{"dataset_id": name} for name in datasets],
        "engine": engine,
    }


def completions(log: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return [
        r["request"]
        for r in records
        if r["path"].endswith("/chat/completions") and "ping" not in json.dumps(r["request"])
    ]


def gold_by_run(service: Service, eval_id: str) -> dict[str, list[tuple[int, str | None]]]:
    response = service.http.get(f"/evals/{eval_id}/predictions", params={"limit": 1000})
    assert response.status_code == 200, response.text
    found: dict[str, list[tuple[int, str | None]]] = {}
    for item in response.json()["items"]:
        found.setdefault(item["dataset"], []).append((item["index"], item["gold"]))
    return found


def test_max_out_len_reaches_the_endpoint_and_gold_is_the_same_for_both_engines(
    settings_service: Service, tmp_path: Path
) -> None:
    with (
        DemoEndpoint(accuracy=0.6, api_key=KEY, log=tmp_path / "oc.jsonl") as oc_endpoint,
        DemoEndpoint(accuracy=0.6, api_key=KEY, log=tmp_path / "lm.jsonl") as lm_endpoint,
    ):
        datasets = ["demo_arith_tiny", "gsm8k_gen_1d7fe4"]
        oc = body("set-oc", "opencompass", oc_endpoint.url, datasets, max_out_len=77, limit=3)
        lm = body("set-lm", "lmeval", lm_endpoint.url, ["demo_arith_tiny"])
        for request in (oc, lm):
            assert settings_service.start_eval(request).status_code == 201
        for eval_id in ("set-oc", "set-lm"):
            done = settings_service.wait_terminal(eval_id, timeout=300)
            assert done["status"] == "succeeded", done

    sent = completions(tmp_path / "oc.jsonl")
    assert len(sent) == 6  # 3 samples of each dataset
    few_shot = [request for request in sent if "Angelo and Melanie" in json.dumps(request)]
    assert len(few_shot) == 3  # gsm8k_gen_1d7fe4's 4-shot prompt (its config says 512)
    assert [request["max_tokens"] for request in sent] == [77] * 6

    rows = demo_datasets.GENERATORS["demo_arith_tiny"][0](5, 7)
    numbers = [row["answer"].split("#### ")[-1] for row in rows]
    oc_gold, lm_gold = (
        gold_by_run(settings_service, "set-oc"),
        gold_by_run(settings_service, "set-lm"),
    )
    assert lm_gold["demo_arith_tiny"] == list(enumerate(numbers))
    assert oc_gold["demo_arith_tiny"] == list(enumerate(numbers[:3]))  # limit=3
    assert oc_gold["gsm8k_gen_1d7fe4"] == list(enumerate(numbers[:3]))


RESOLVE = """
import json, sys
from mmengine.config import Config
found = {}
for name, path in json.loads(sys.argv[1]).items():
    config = Config.fromfile(path)
    [model] = config['models']
    used = set()
    for dataset in config['datasets']:
        inferencer = dataset['infer_cfg']['inferencer']
        # OpenICLInferTask._inference: the model's value only where the dataset sets none
        used.add((inferencer.get('max_out_len', model['max_out_len']),
                  inferencer.get('batch_size', model['batch_size'])))
    found[name] = sorted(used)
print(json.dumps(found))
"""


def resolved(python: Path, folder: Path, configs: dict[str, str]) -> dict[str, list[list[int]]]:
    folder.mkdir()
    paths = {}
    for name, text in configs.items():
        (folder / f"{name}.py").write_text(text)
        paths[name] = str(folder / f"{name}.py")
    done = subprocess.run(
        [str(python), "-c", RESOLVE, json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_every_allowlisted_config_uses_the_requested_values(
    pythons: dict[str, Path], tmp_path: Path
) -> None:
    def render(name: str, **extra: Any) -> str:
        return opencompass_runner.render_config(runner_args(name, model="m", **extra))

    asked = {name: render(name, max_out_len=77, num_concurrent=3) for name in CONFIGS}
    assert resolved(pythons["opencompass"], tmp_path / "asked", asked) == {
        name: [[77, 3]] for name in CONFIGS
    }
    # without a request value, a config that sets its own keeps it (as OpenCompass by hand)
    own = resolved(
        pythons["opencompass"],
        tmp_path / "own",
        {name: render(name) for name in ("gsm8k_gen_1d7fe4", "lambada_gen", "math_gen")},
    )
    assert own == {"gsm8k_gen_1d7fe4": [[512, 8]], "lambada_gen": [[5, 8]], "math_gen": [[1024, 8]]}


def test_concurrency_knobs_bound_what_the_endpoint_sees(settings_service: Service) -> None:
    """README's numbers for slow endpoints, measured: OpenCompass's defaults put up to 2 workers
    x 8 = 16 requests in flight on a 20-row dataset; `max_num_workers=1, batch_size=2` → 2;
    lm-eval's `num_concurrent=2` → 2."""
    cases = {  # latency long enough for the two workers' first batches to overlap
        "con-oc-default": ("opencompass", {}, 8000),
        "con-oc-small": ("opencompass", {"max_num_workers": 1, "batch_size": 2}, 500),
        "con-lm-small": ("lmeval", {"num_concurrent": 2}, 500),
    }
    endpoints = {
        eval_id: DemoEndpoint(api_key=KEY, latency_ms=latency)
        for eval_id, (_, _, latency) in cases.items()
    }
    try:
        for eval_id, (engine, extra, _) in cases.items():
            url = endpoints[eval_id].start().url
            request = body(eval_id, engine, url, ["demo_arith"], **extra)
            assert settings_service.start_eval(request).status_code == 201
        for eval_id in cases:
            done = settings_service.wait_terminal(eval_id, timeout=400)
            assert done["status"] == "succeeded", done
        peaks = {eval_id: endpoints[eval_id].requests.max_in_flight for eval_id in cases}
    finally:
        for endpoint in endpoints.values():
            endpoint.stop()
    # more than one worker's batch at once, never more than both: the two worker processes start
    # seconds apart on a busy host, so their first batches overlap only partly (12 measured)
    assert 8 < peaks.pop("con-oc-default") <= 16
    assert peaks == {"con-oc-small": 2, "con-lm-small": 2}
