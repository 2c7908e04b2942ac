"""Read a finished OpenCompass run's output into budeval's normalised scores and predictions.

Layout (OpenCompass 0.5.4): `<output>/<YYYYMMDD_HHMMSS>/` holding `summary/summary_<ts>.csv`
(one row per dataset abbr), `results/<model>/<abbr>.json` (`{"accuracy": 70.0, "details": […]}`)
and `predictions/<model>/<abbr>.json` (`{"0": {"origin_prompt", "prediction", "gold"}}`, or
shards `<abbr>_0.json`, `<abbr>_1.json`, … each numbered from 0, when a dataset was split).

Normalisation: OpenCompass reports every metric as a percentage (0 to 100); budeval stores
fractions (0 to 1), so each numeric metric is divided by 100 (`accuracy` 70.0 → 0.7), all with
`higher_is_better=True`. OpenCompass has no sample count: `n_samples` is the number of `details`
(else of predictions). A config with several datasets (mmlu's 57 subjects) gives one score per
subset as `<dataset_id>/<abbr>` plus the plain `<dataset_id>` score: the mean of the subsets,
OpenCompass's own default for summary groups (`naive_average`).

Per sample, `gold` is the reference the evaluator compared, as for lm-eval (its `target`): the
results file's detail (`answer`, `references`, `refr`, `reference` or `gold`, whichever the
evaluator wrote; after the config's dataset postprocessor, e.g. gsm8k's `#### 72` → `72`). The
predictions file's `gold` is the raw dataset field; it stands only where a detail names none.
Pure reading, no writes.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from budeval.results.models import ParsedResults, Prediction, Score

TIMESTAMP = re.compile(r"^\d{8}_\d{6}$")
NOT_METRICS = frozenset({"details", "type", "error"})
REFERENCE_KEYS = ("answer", "references", "refr", "reference", "gold")
"""Where OpenCompass 0.5.4's evaluators put the compared reference in a sample's detail."""


def newest_run(output_dir: Path) -> Path:
    runs = sorted(p for p in output_dir.iterdir() if p.is_dir() and TIMESTAMP.fullmatch(p.name))
    if not runs:
        raise ValueError(f"no OpenCompass output (<timestamp>/ folder) in {output_dir}")
    return runs[-1]


def dataset_abbrs(run: Path, model: str) -> list[str]:
    """Datasets in summary order (the config's order), else the results files' names."""
    tables = sorted((run / "summary").glob("summary_*.csv"))
    if tables:
        with tables[-1].open(newline="", encoding="utf-8") as handle:
            names = [row["dataset"] for row in csv.DictReader(handle)]
        if names:
            return list(dict.fromkeys(names))
    return sorted(path.stem for path in (run / "results" / model).glob("*.json"))


def load_predictions(run: Path, model: str, abbr: str) -> list[dict[str, Any]]:
    folder = run / "predictions" / model
    whole = folder / f"{abbr}.json"
    shards = [whole] if whole.exists() else []
    while not whole.exists() and (shard := folder / f"{abbr}_{len(shards)}.json").exists():
        shards.append(shard)
    rows: list[dict[str, Any]] = []
    for shard in shards:
        document = json.loads(shard.read_text(encoding="utf-8"))
        rows.extend(document[str(i)] for i in range(len(document)))
    return rows


def details_list(details: Any) -> list[dict[str, Any]]:
    """Per-sample entries: a list, or a dict keyed by sample index. Other keys of such a dict
    (custom QA datasets add `"type": "GEN"`) are not samples and must not count in n_samples."""
    if isinstance(details, dict):
        return [details[key] for key in sorted((k for k in details if k.isdigit()), key=int)]
    return list(details or [])


def text(value: Any) -> str | None:
    """A prompt, prediction or gold as text (chat prompts become `ROLE: text` lines)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return "\n\n".join(f"{item.get('role', '?')}: {item.get('prompt', '')}" for item in value)
    return json.dumps(value, ensure_ascii=False)


def first(value: Any) -> Any:
    """Details are flattened to one entry per generation (replica); the first is the sample's."""
    return value[0] if isinstance(value, list) and value else value


def compared_gold(detail: dict[str, Any], row: dict[str, Any]) -> str | None:
    for key in REFERENCE_KEYS:
        if detail.get(key) is not None:
            return text(first(detail[key]))
    return text(row.get("gold"))


def parse_run(
    output_dir: Path, model: str, dataset_id: str
) -> tuple[list[Score], list[Prediction]]:
    run = newest_run(output_dir)
    abbrs = dataset_abbrs(run, model)
    if not abbrs:
        raise ValueError(f"no datasets in OpenCompass output {run}")
    scores: list[Score] = []
    predictions: list[Prediction] = []
    per_metric: dict[str, list[float]] = {}
    total = 0
    for abbr in abbrs:
        result = json.loads((run / "results" / model / f"{abbr}.json").read_text("utf-8"))
        rows = load_predictions(run, model, abbr)
        details = details_list(result.get("details"))
        count = len(details) if details else len(rows)
        total += count
        name = dataset_id if len(abbrs) == 1 else f"{dataset_id}/{abbr}"
        for metric, value in result.items():
            if metric in NOT_METRICS or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                fraction = float(value) / 100.0
                scores.append(Score(dataset=name, metric=metric, value=fraction, n_samples=count))
                per_metric.setdefault(metric, []).append(fraction)
        for i, row in enumerate(rows):
            detail = details[i] if i < len(details) and isinstance(details[i], dict) else {}
            # the keys OpenCompass's own G-Pass@k reads, in its order
            outcomes = (detail.get(key) for key in ("correct", "is_correct", "cascade_correct"))
            correct = first(next((value for value in outcomes if value is not None), None))
            predictions.append(
                Prediction(
                    index=len(predictions),
                    prompt=text(row.get("origin_prompt")),
                    prediction=text(row.get("prediction")),
                    gold=compared_gold(detail, row),
                    correct=correct if isinstance(correct, bool) else None,
                )
            )
    if len(abbrs) > 1:
        for metric, values in per_metric.items():
            if len(values) == len(abbrs):
                mean = sum(values) / len(values)
                scores.append(Score(dataset=dataset_id, metric=metric, value=mean, n_samples=total))
    return scores, predictions


def parsed(engine: str, version: str, output_dir: Path, model: str, dataset: str) -> ParsedResults:
    scores, predictions = parse_run(output_dir, model, dataset)
    return ParsedResults(
        engine=engine, engine_version=version, scores=scores, predictions=predictions
    )
