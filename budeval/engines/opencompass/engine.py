"""The OpenCompass engine (0.5.4), the seeds' default: one OpenCompass process per dataset.

budeval never imports OpenCompass. `build` describes a run of the standalone runner
(`budeval/runners/opencompass_runner.py`, at /opt/budeval/runners in an image) in the engine's
own environment, with everything it needs in `ENGINE_ARGS` (validated values, container paths,
no secret; the key reaches the process only as `OPENAI_API_KEY`). The runner renders the config
with literal values, runs the `opencompass` CLI and decides success (OpenCompass exits 0 when
tasks fail); `parse` reads its output folder. Arguments: `args.py`; datasets:
`datasets.py`; output format and score normalisation: `results.py` (all in this package).
"""

from __future__ import annotations

import re
from pathlib import Path

from budeval.backends.base import OUTPUT_MOUNT, RUNNERS_MOUNT, RunSpec
from budeval.engines.base import Engine
from budeval.engines.opencompass import args as opencompass_args
from budeval.engines.opencompass import datasets as opencompass_datasets
from budeval.engines.opencompass import results as opencompass_results
from budeval.engines.opencompass.recipe import OPENCOMPASS_VERSION, RECIPE
from budeval.engines.registry import register_engine
from budeval.errors import InvalidRequest
from budeval.results.models import ParsedResults
from budeval.spec import DatasetRun, EvaluationSpec

RUNNER = f"{RUNNERS_MOUNT}/opencompass_runner.py"
_NOT_ABBR = re.compile(r"[^A-Za-z0-9._-]+")


def model_abbr(model_name: str) -> str:
    """The model's folder name in OpenCompass's output: path-safe (`org/model` has a slash)."""
    abbr = _NOT_ABBR.sub("_", model_name).strip("._-")[:64]
    return abbr if abbr and abbr[0].isalnum() else f"m{abbr}"[:64]


def api_base(endpoint: str) -> str:
    """OpenAISDK wants the base URL with a trailing slash; it appends `chat/completions`."""
    return endpoint.rstrip("/") + "/"


@register_engine()
class OpenCompassEngine(Engine):
    name = "opencompass"
    version = OPENCOMPASS_VERSION
    image = f"budeval/engine-opencompass:{OPENCOMPASS_VERSION}"
    environment = "opencompass"
    default_dataset = "demo_gsm8k_chat_gen"
    recipe = RECIPE
    mode = "chat"

    def validate(self, spec: EvaluationSpec) -> None:
        opencompass_args.generation_args(spec.model.extra_args)
        for run in spec.datasets:
            opencompass_datasets.dataset_args(run.dataset_id)
        if not spec.model.endpoint.startswith(("http://", "https://")):
            raise InvalidRequest(
                "eval_model_info.endpoint: must be an http(s) URL",
                field="eval_model_info.endpoint",
            )

    def build(self, spec: EvaluationSpec, dataset: DatasetRun) -> RunSpec:
        return self.run_spec(
            spec,
            dataset,
            command=["python", RUNNER],
            engine_args={
                "dataset": opencompass_datasets.dataset_args(dataset.dataset_id),
                "model": spec.model.model_name,
                "model_abbr": model_abbr(spec.model.model_name),
                "api_base": api_base(spec.model.endpoint),
                "generation": opencompass_args.generation_args(spec.model.extra_args),
                "output_dir": OUTPUT_MOUNT,
            },
        )

    def parse(self, spec: EvaluationSpec, dataset: DatasetRun, output_dir: Path) -> ParsedResults:
        return opencompass_results.parsed(
            self.name,
            self.version,
            output_dir,
            model_abbr(spec.model.model_name),
            dataset.dataset_id,
        )
