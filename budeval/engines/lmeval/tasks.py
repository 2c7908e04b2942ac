"""Which lm-eval tasks budeval can run, and the task configs of the built-in demo datasets.

Two kinds of dataset ids are accepted by the lm-eval engine:

- the generated demo datasets (`budeval.demo.datasets`), whose lm-eval task configs live here as
  plain data — gsm8k-style exact match for the arithmetic sets, letter extraction for the
  multiple-choice set, both generative (`generate_until`), so they run on a chat endpoint with no
  tokenizer;
- a task YAML an operator placed at `/datasets/lmeval/<dataset_id>.yaml` on the datasets volume.

Pure data and path arithmetic: nothing here reads the disk (the engine has no settings).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from budeval.backends.base import DATASETS_MOUNT

LOCAL_TASKS = "lmeval"
"""Folder of the datasets volume holding operators' task YAMLs (`/datasets/lmeval/<task>.yaml`)."""
DEMO_FOLDER = "demo"
"""Folder of the datasets volume where the service writes the generated demo datasets."""

TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
"""A dataset id usable as a task-file name: the id alphabet without `:` (no `..` on its own)."""

GSM_STRICT = r"#### (\-?[0-9\.\,]+)"
LETTER = r"\b([A-D])\b"


def _arithmetic(name: str) -> dict[str, Any]:
    """gsm8k-style: the reply must end with `#### <number>` (strict) or contain a number."""
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": demo_file(name)}},
        "output_type": "generate_until",
        "test_split": "test",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "{{answer.split('#### ')[-1].strip()}}",
        "num_fewshot": 0,
        "generation_kwargs": {
            "until": ["Question:"],
            "do_sample": False,
            "temperature": 0.0,
            "max_gen_toks": 256,
        },
        "metric_list": [
            {
                "metric": "exact_match",
                "aggregation": "mean",
                "higher_is_better": True,
                "ignore_case": True,
                "ignore_punctuation": False,
                "regexes_to_ignore": [",", "\\$", "\\.$"],
            }
        ],
        "filter_list": [
            {
                "name": "strict-match",
                "filter": [
                    {"function": "regex", "regex_pattern": GSM_STRICT},
                    {"function": "take_first"},
                ],
            },
            {
                "name": "flexible-extract",
                "filter": [
                    {
                        "function": "regex",
                        "group_select": -1,
                        "regex_pattern": "(-?[$0-9.,]{2,})|(-?[0-9]+)",
                    },
                    {"function": "take_first"},
                ],
            },
        ],
        "metadata": {"version": 1.0},
    }


def _multiple_choice(name: str) -> dict[str, Any]:
    """mmlu-style, generative: the first standalone letter A-D of the reply is the answer."""
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": demo_file(name)}},
        "output_type": "generate_until",
        "test_split": "test",
        "doc_to_text": (
            "{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n"
            "Answer with the letter of the correct option.\nAnswer:"
        ),
        "doc_to_target": "{{answer}}",
        "num_fewshot": 0,
        "generation_kwargs": {
            "until": [],
            "do_sample": False,
            "temperature": 0.0,
            "max_gen_toks": 32,
        },
        "metric_list": [
            {
                "metric": "exact_match",
                "aggregation": "mean",
                "higher_is_better": True,
                "ignore_case": True,
                "ignore_punctuation": True,
            }
        ],
        "filter_list": [
            {
                "name": "letter",
                "filter": [
                    {"function": "regex", "regex_pattern": LETTER},
                    {"function": "take_first"},
                ],
            }
        ],
        "metadata": {"version": 1.0},
    }


DEMO_TASKS = {
    "demo_arith": _arithmetic,
    "demo_arith_tiny": _arithmetic,
    "demo_mcq": _multiple_choice,
}


def demo_file(name: str) -> str:
    """Container path of a generated demo dataset."""
    return f"{DATASETS_MOUNT}/{DEMO_FOLDER}/{name}.jsonl"


def demo_task(name: str) -> dict[str, Any] | None:
    """The lm-eval task config of a demo dataset (None if `name` is not one)."""
    build = DEMO_TASKS.get(name)
    return build(name) if build else None


def task_file(name: str) -> str:
    """Container path of an operator's task YAML for dataset `name`."""
    return f"{DATASETS_MOUNT}/{LOCAL_TASKS}/{name}.yaml"


def local_task_path(datasets_dir: Path, name: str) -> Path:
    """Where `task_file(name)` lives on this machine, given the datasets dir."""
    return datasets_dir / LOCAL_TASKS / f"{name}.yaml"
