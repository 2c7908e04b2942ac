"""What a finished OpenCompass run left behind: did every dataset get a score, and if not, why.

Part of the OpenCompass runner (standard library only, run in the engine's environment). Needed
because OpenCompass exits 0 even when its tasks fail: a failed dataset has no
`results/<model>/<abbr>.json` (or one holding an evaluator error) and a `-` row in the summary.
The reason names the dataset, the most telling line of the failing task's log (inference when it
left no predictions, else evaluation) and, for API failures, OpenCompass's last logged cause.
Reads only; prints the failing log's tail (redacted) so a run's stored log tail shows it.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re

TIMESTAMP = re.compile(r"^\d{8}_\d{6}$")


def say(line):
    print(f"[budeval] {line}", flush=True)


def newest_run(output_dir):
    runs = sorted(name for name in os.listdir(output_dir) if TIMESTAMP.fullmatch(name))
    return os.path.join(output_dir, runs[-1]) if runs else None


def summary_datasets(run):
    """Dataset abbrs the summary lists (every dataset of the config, failed ones included)."""
    tables = sorted(glob.glob(os.path.join(run, "summary", "summary_*.csv")))
    if not tables:
        return []
    with open(tables[-1], newline="", encoding="utf-8") as handle:
        return list(dict.fromkeys(row["dataset"] for row in csv.DictReader(handle)))


def result_problem(run, model, dataset):
    """Why `results/<model>/<dataset>.json` holds no score, or None when it does."""
    try:
        with open(os.path.join(run, "results", model, f"{dataset}.json"), encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError) as error:
        return (
            "no results file" if isinstance(error, FileNotFoundError) else f"bad results: {error}"
        )
    values = document.values() if isinstance(document, dict) else ()
    if isinstance(document, dict) and "error" in document:
        return f"evaluator error: {document['error']}"
    return None if any(isinstance(v, (int, float)) for v in values) else "no metric in results"


def task_log(run, model, dataset):
    """The log of the stage that failed: an inference log with errors (a dataset split over two
    workers may have half its predictions), else inference when it left no predictions, else
    eval."""
    infer_logs = sorted(glob.glob(os.path.join(run, "logs", "infer", model, f"{dataset}*.out")))
    for log in infer_logs:
        with open(log, encoding="utf-8", errors="replace") as handle:
            if any(" - ERROR - " in line or line.startswith("Traceback") for line in handle):
                return log
    predictions = glob.glob(os.path.join(run, "predictions", model, f"{dataset}*.json"))
    for stage in ("eval", "infer") if predictions else ("infer", "eval"):
        logs = sorted(glob.glob(os.path.join(run, "logs", stage, model, f"{dataset}*.out")))
        if logs:
            return logs[0]
    return None


def error_line(lines):
    """The most telling line of a log: its last exception line, else its last line."""
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception|Exit)\b.*:", line.strip()):
            return line.strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "no output")


def failure_detail(run, output_dir, model, dataset, problem, redact):
    log = task_log(run, model, dataset)
    if log is None:
        return problem
    with open(log, encoding="utf-8", errors="replace") as handle:
        lines = [redact(line.rstrip()) for line in handle.readlines()[-2000:]]
    say(f"tail of {os.path.relpath(log, output_dir)}:")
    print("\n".join(f"    {line}" for line in lines[-15:]), flush=True)
    detail = f"{problem}; {error_line(lines[-15:])}"
    if "Calling OpenAI API failed" in detail:  # add its last logged cause ("Connection error.")
        causes = [line.rsplit(" - ", 1)[-1] for line in lines if " - ERROR - " in line]
        causes = [cause for cause in causes if not cause.startswith("error occurs at")]
        detail += f" Last API error: {causes[-1].strip()[:200]}" if causes else ""
    return detail + f" (log: {os.path.relpath(log, output_dir)})"


def verdict(output_dir, model, dataset_name, redact, cli_tail):
    """None when every dataset has a score; else a one-line reason (log tails printed first)."""
    run = newest_run(output_dir)
    datasets = summary_datasets(run) if run else []
    if not datasets:
        return f"dataset {dataset_name}: OpenCompass stopped before a summary: " + error_line(
            cli_tail
        )
    problems = [
        f"dataset {dataset}: {failure_detail(run, output_dir, model, dataset, problem, redact)}"
        for dataset in datasets
        if (problem := result_problem(run, model, dataset)) is not None
    ]
    more = f" (+{len(problems) - 1} more datasets failed)" if len(problems) > 1 else ""
    return problems[0][:600] + more if problems else None
