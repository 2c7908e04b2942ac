"""The lm-evaluation-harness engine: lm-eval 0.4.13 against an OpenAI-compatible endpoint.

Each run executes `budeval/runners/lmeval_runner.py` with the engine environment's python. This
adapter only computes: the lm_eval command-line arguments (so an operator can replay a run with
the real `lm_eval` CLI, and the runner drives that same CLI code), the task config of a demo
dataset, and the scores read back from lm-eval's own `results_*.json` / `samples_*.jsonl`.

Generative tasks only (`generate_until`): they need no tokenizer, which an offline API run cannot
download. The API key is never an argument: lm-eval reads `OPENAI_API_KEY`, which the backend sets
from the secret store; the runner redacts it from everything lm-eval prints.
"""

from __future__ import annotations

import json
from pathlib import Path

from budeval.backends.base import DATA_MOUNT, DATASETS_MOUNT, OUTPUT_MOUNT, RUNNERS_MOUNT, RunSpec
from budeval.engines.base import Engine
from budeval.engines.environments import Recipe
from budeval.engines.lmeval import results as lmeval_results
from budeval.engines.lmeval import tasks as lmeval_tasks
from budeval.engines.lmeval.options import LmEvalOptions, parse_options
from budeval.engines.registry import register_engine
from budeval.errors import InvalidRequest
from budeval.results.models import ParsedResults
from budeval.spec import DatasetRun, EvaluationSpec

LM_EVAL_VERSION = "0.4.13"
RUNNER = f"{RUNNERS_MOUNT}/lmeval_runner.py"
MODELS = {"chat": "local-chat-completions", "completions": "local-completions"}
ROUTES = {"chat": "chat/completions", "completions": "completions"}


@register_engine()
class LmEvalEngine(Engine):
    name = "lmeval"
    version = LM_EVAL_VERSION
    image = f"budeval/engine-lmeval:{LM_EVAL_VERSION}"
    environment = "lmeval"
    default_dataset = "demo_arith"
    recipe = Recipe(name="lmeval", phases=[[f"lm-eval[api]=={LM_EVAL_VERSION}"]])
    mode = "chat"

    def options(self, spec: EvaluationSpec) -> LmEvalOptions:
        return parse_options(spec.model.extra_args)

    def endpoint_mode(self, spec: EvaluationSpec) -> str | None:
        return self.options(spec).model_type

    def validate(self, spec: EvaluationSpec) -> None:
        self.options(spec)
        for run in spec.datasets:
            if lmeval_tasks.demo_task(run.dataset_id) is None and not lmeval_tasks.TASK_NAME.match(
                run.dataset_id
            ):
                raise InvalidRequest(
                    f"dataset {run.dataset_id!r} cannot name an lm-eval task file "
                    "(letters, digits, '_', '-', '.')",
                    field="eval_datasets.dataset_id",
                )

    def check_datasets(self, spec: EvaluationSpec, datasets_dir: Path) -> None:
        """Submit-time check that needs the datasets dir (which `validate` does not get): every
        dataset is a demo dataset or has a task YAML at `<datasets_dir>/lmeval/<id>.yaml`.

        Optional hook: without it a missing task file fails its run with a clear reason."""
        for run in spec.datasets:
            if lmeval_tasks.demo_task(run.dataset_id) is not None:
                continue
            if not lmeval_tasks.local_task_path(datasets_dir, run.dataset_id).is_file():
                demos = ", ".join(lmeval_tasks.DEMO_TASKS)
                raise InvalidRequest(
                    f"unknown dataset {run.dataset_id!r} for engine lmeval: not a demo dataset "
                    f"({demos}) and no task file {lmeval_tasks.task_file(run.dataset_id)}",
                    field="eval_datasets.dataset_id",
                )

    def build(self, spec: EvaluationSpec, dataset: DatasetRun) -> RunSpec:
        options = self.options(spec)
        task = dataset.dataset_id
        task_yaml = f"{DATA_MOUNT}/tasks/{task}.yaml"
        demo = lmeval_tasks.demo_task(task)
        return self.run_spec(
            spec,
            dataset,
            command=["python", RUNNER],
            engine_args={
                "format": 1,
                "task": task,
                "task_yaml": task_yaml,
                "task_config": demo,
                "task_file": None if demo else lmeval_tasks.task_file(task),
                "datasets_dir": DATASETS_MOUNT,
                "output_dir": OUTPUT_MOUNT,
                "hf_home": f"{DATA_MOUNT}/hf_home",
                "lm_eval_args": lm_eval_args(spec, options, task_yaml),
            },
        )

    def parse(self, spec: EvaluationSpec, dataset: DatasetRun, output_dir: Path) -> ParsedResults:
        scores, predictions = lmeval_results.read(output_dir, dataset.dataset_id)
        return ParsedResults(
            engine=self.name,
            engine_version=self.version,
            scores=scores,
            predictions=predictions,
        )


def lm_eval_args(spec: EvaluationSpec, options: LmEvalOptions, task_yaml: str) -> list[str]:
    """`lm_eval run` arguments (container paths); the runner hands them to lm-eval's own CLI."""
    mode = options.model_type
    base_url = f"{spec.model.endpoint.rstrip('/')}/{ROUTES[mode]}"
    model_args = options.model_args(spec.model.model_name, base_url)
    args = [
        "--model",
        MODELS[mode],
        "--model_args",
        json.dumps(model_args, separators=(",", ":")),
        "--tasks",
        task_yaml,
        "--output_path",
        OUTPUT_MOUNT,
        "--log_samples",
    ]
    if mode == "chat":
        args.append("--apply_chat_template")
    if gen_kwargs := options.gen_kwargs():
        args += ["--gen_kwargs", json.dumps(gen_kwargs, separators=(",", ":"))]
    if options.batch_size != 1:
        args += ["--batch_size", str(options.batch_size)]
    if options.limit is not None:
        args += ["--limit", str(options.limit)]
    return args
