"""Reading lm-eval's output files into budeval's normalised scores and predictions.

lm-eval writes `<output>/<sanitised model>/results_<timestamp>.json` and, per task,
`samples_<task>_<timestamp>.jsonl` (one line per document and filter). A result key looks like
`"exact_match,strict-match"`: metric, comma, filter. Scores keep lm-eval's scale (0-1) and become
`exact_match/strict-match` (the filter `none` is left out). Only reads files; never raises
anything but ValueError (or OSError) for output it cannot understand.

A prediction's `gold` is what the metric compared: the sample's `target` (the task's
`doc_to_target`, e.g. gsm8k's number after `####`), or, for a task with `doc_to_choice`, where
lm-eval's target is an index, `choices[target]` (as `ConfigurableTask.process_results` does) when
the choices are a list or a plain `{{field}}` of the document; the same meaning as OpenCompass's.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from budeval.results.models import Prediction, Score

SKIPPED = {"alias", "name", "sample_len"}
_FIELD = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}$")


def newest_results(output_dir: Path) -> Path:
    found = sorted(output_dir.glob("*/results_*.json"), key=lambda path: path.name)
    if not found:
        raise ValueError(f"lm-eval wrote no results_*.json under {output_dir}")
    return found[-1]


def load_results(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"unreadable lm-eval results {path.name}: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise ValueError(f"{path.name} has no 'results' mapping: not an lm-eval results file")
    return document


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def task_scores(document: dict[str, Any], task: str, dataset: str, prefix: str) -> list[Score]:
    values = document["results"][task]
    samples = document.get("n-samples", {}).get(task, {}).get("effective")
    better = document.get("higher_is_better", {}).get(task, {})
    scores = []
    for key, raw in values.items():
        if key in SKIPPED or "," not in key:
            continue
        metric, filter_name = key.split(",", 1)
        value = _number(raw)
        if metric.endswith("_stderr") or value is None:
            continue
        name = metric if filter_name == "none" else f"{metric}/{filter_name}"
        scores.append(
            Score(
                dataset=dataset,
                metric=f"{prefix}{name}",
                value=value,
                higher_is_better=bool(better.get(metric, True)),
                n_samples=samples,
                stderr=_number(values.get(f"{metric}_stderr,{filter_name}")),
            )
        )
    return scores


def primary(document: dict[str, Any], task: str) -> tuple[str, str | None]:
    """(filter, metric) whose per-document outcome becomes a prediction: the task's first."""
    config = document.get("configs", {}).get(task, {})
    filters = config.get("filter_list") or [{"name": "none"}]
    metrics = config.get("metric_list") or [{}]
    return str(filters[0].get("name", "none")), metrics[0].get("metric")


def _prompt(arguments: Any) -> str | None:
    """The prompt lm-eval sent: `arguments.gen_args_0.arg_0` (a chat prompt is JSON text)."""
    if isinstance(arguments, dict):
        first = next(iter(arguments.values()), None)
        if isinstance(first, dict):
            prompt = first.get("arg_0")
            if isinstance(prompt, list) and len(prompt) == 1:
                prompt = prompt[0]
            return prompt if isinstance(prompt, str) else json.dumps(prompt)
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _choices(doc_to_choice: Any, doc: Any) -> list[Any] | None:
    """The task's choices for `doc`: a list, or a plain `{{a.b}}` reference into the document."""
    if isinstance(doc_to_choice, list):
        return doc_to_choice
    match = _FIELD.match(doc_to_choice) if isinstance(doc_to_choice, str) else None
    value = doc
    for part in match.group(1).split(".") if match else ():
        value = value.get(part) if isinstance(value, dict) else None
    return value if match and isinstance(value, list) else None


def compared_gold(sample: dict[str, Any], doc_to_choice: Any) -> str | None:
    target = sample.get("target")
    if doc_to_choice is not None and isinstance(target, int) and not isinstance(target, bool):
        choices = _choices(doc_to_choice, sample.get("doc"))
        if choices is not None and 0 <= target < len(choices):
            return _text(choices[target])
    return _text(target)


def predictions(
    samples_file: Path, filter_name: str, metric: str | None, doc_to_choice: Any = None
) -> list[Prediction]:
    found = []
    with samples_file.open() as lines:
        for line in lines:
            if not line.strip():
                continue
            sample = json.loads(line)
            if sample.get("filter", "none") != filter_name:
                continue
            outcome = sample.get(metric) if metric else None
            found.append(
                Prediction(
                    index=int(sample["doc_id"]),
                    prompt=_prompt(sample.get("arguments")),
                    prediction=_text(sample.get("filtered_resps")),
                    gold=compared_gold(sample, doc_to_choice),
                    correct=bool(outcome) if outcome in (0, 1) else None,
                )
            )
    return sorted(found, key=lambda prediction: prediction.index)


def samples_file(results: Path, task: str) -> Path | None:
    stamp = results.name.removeprefix("results_").removesuffix(".json")
    path = results.with_name(f"samples_{task}_{stamp}.jsonl")
    return path if path.exists() else None


def read(output_dir: Path, dataset: str) -> tuple[list[Score], list[Prediction]]:
    """Scores of every task in the newest results file; predictions of the first task."""
    path = newest_results(output_dir)
    document = load_results(path)
    tasks = sorted(document["results"])
    if not tasks:
        raise ValueError(f"{path.name} holds no task results")
    several = len(tasks) > 1
    scores = []
    for task in tasks:
        scores += task_scores(document, task, dataset, f"{task}:" if several else "")
    if not scores:
        raise ValueError(f"{path.name} holds no numeric metric")
    found: list[Prediction] = []
    if not several and (samples := samples_file(path, tasks[0])) is not None:
        filter_name, metric = primary(document, tasks[0])
        choices = document.get("configs", {}).get(tasks[0], {}).get("doc_to_choice")
        try:
            found = predictions(samples, filter_name, metric, choices)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"unreadable lm-eval samples {samples.name}: {error}") from error
    return scores, found
