"""Which datasets an OpenCompass run can evaluate, and how the runner must load each one.

The service never imports OpenCompass, so it cannot list the configs of the installed package.
Instead this module ships an allowlist of common generative configs, each with the module and
variable the runner imports (`with read_base(): from <module> import <variable>`); a test checks
every entry against the installed package. Four kinds of dataset, by name:

    demo_arith, demo_arith_tiny   generated gsm8k-style files (/datasets/demo/<name>.jsonl),
                                  loaded as CustomDataset + Gsm8kEvaluator (numeric answers)
    demo_mcq                      generated multiple choice: OpenCompass's no-`type` shorthand
    <config name>                 an allowlisted OpenCompass config; its data is read from
                                  COMPASS_DATA_CACHE=/datasets/opencompass (OpenCompass's data
                                  release unpacked there: /datasets/opencompass/data/gsm8k/…).
                                  demo_gsm8k_chat_gen falls back to the demo_arith rows when
                                  /datasets/opencompass/data/gsm8k is absent (the runner says so)
    anything else                 a user file /datasets/opencompass/<name>.jsonl in OpenCompass's
                                  custom format (question[,A,B,…],answer; optional
                                  <name>.jsonl.meta.json), found or refused by the runner

Names shaped like OpenCompass configs (`*_gen`, `*_ppl`, `*_gen_<hash>`…) that are not in the
allowlist are refused at submit: a typo should be a 422, not a missing-file failure later.
Perplexity (`_ppl`) configs need logprobs, which OpenCompass's chat API model cannot give. Pure.
"""

from __future__ import annotations

import re
from typing import Any

from budeval.errors import InvalidRequest

DATASETS_ROOT = "/datasets"
COMPASS_DATA = f"{DATASETS_ROOT}/opencompass"
"""COMPASS_DATA_CACHE for built-in configs, and the folder of users' custom files."""
DEMO_DIR = f"{DATASETS_ROOT}/demo"

DEMO_DATASETS = {"demo_arith": "gsm8k", "demo_arith_tiny": "gsm8k", "demo_mcq": "mcq"}
DEMO_GSM8K_FALLBACK = {"demo_gsm8k_chat_gen": "demo_arith"}
"""Built-in config → demo dataset whose rows stand in for its data when none is installed."""

_P = "opencompass.configs.datasets."
CONFIGS: dict[str, tuple[str, str]] = {
    "demo_gsm8k_chat_gen": (_P + "demo.demo_gsm8k_chat_gen", "gsm8k_datasets"),
    "demo_math_chat_gen": (_P + "demo.demo_math_chat_gen", "math_datasets"),
    "demo_cmmlu_chat_gen": (_P + "demo.demo_cmmlu_chat_gen", "cmmlu_datasets"),
    "gsm8k_gen": (_P + "gsm8k.gsm8k_gen", "gsm8k_datasets"),
    "gsm8k_gen_1d7fe4": (_P + "gsm8k.gsm8k_gen_1d7fe4", "gsm8k_datasets"),
    "math_gen": (_P + "math.math_gen", "math_datasets"),
    "mmlu_gen": (_P + "mmlu.mmlu_gen", "mmlu_datasets"),
    "mmlu_pro_gen": (_P + "mmlu_pro.mmlu_pro_gen", "mmlu_pro_datasets"),
    "cmmlu_gen": (_P + "cmmlu.cmmlu_gen", "cmmlu_datasets"),
    "ceval_gen": (_P + "ceval.ceval_gen", "ceval_datasets"),
    "bbh_gen": (_P + "bbh.bbh_gen", "bbh_datasets"),
    "ARC_c_gen": (_P + "ARC_c.ARC_c_gen", "ARC_c_datasets"),
    "ARC_e_gen": (_P + "ARC_e.ARC_e_gen", "ARC_e_datasets"),
    "hellaswag_gen": (_P + "hellaswag.hellaswag_gen", "hellaswag_datasets"),
    "winogrande_gen": (_P + "winogrande.winogrande_gen", "winogrande_datasets"),
    "race_gen": (_P + "race.race_gen", "race_datasets"),
    "triviaqa_gen": (_P + "triviaqa.triviaqa_gen", "triviaqa_datasets"),
    "nq_gen": (_P + "nq.nq_gen", "nq_datasets"),
    "drop_gen": (_P + "drop.drop_gen", "drop_datasets"),
    "commonsenseqa_gen": (_P + "commonsenseqa.commonsenseqa_gen", "commonsenseqa_datasets"),
    "piqa_gen": (_P + "piqa.piqa_gen", "piqa_datasets"),
    "siqa_gen": (_P + "siqa.siqa_gen", "siqa_datasets"),
    "obqa_gen": (_P + "obqa.obqa_gen", "obqa_datasets"),
    "gpqa_gen": (_P + "gpqa.gpqa_gen", "gpqa_datasets"),
    "humaneval_gen": (_P + "humaneval.humaneval_gen", "humaneval_datasets"),
    "mbpp_gen": (_P + "mbpp.mbpp_gen", "mbpp_datasets"),
    "TheoremQA_gen": (_P + "TheoremQA.TheoremQA_gen", "TheoremQA_datasets"),
    "GaokaoBench_gen": (_P + "GaokaoBench.GaokaoBench_gen", "GaokaoBench_datasets"),
    "agieval_gen": (_P + "agieval.agieval_gen", "agieval_datasets"),
    "SuperGLUE_BoolQ_gen": (_P + "SuperGLUE_BoolQ.SuperGLUE_BoolQ_gen", "BoolQ_datasets"),
    "strategyqa_gen": (_P + "strategyqa.strategyqa_gen", "strategyqa_datasets"),
    "IFEval_gen": (_P + "IFEval.IFEval_gen", "ifeval_datasets"),
    "truthfulqa_gen": (_P + "truthfulqa.truthfulqa_gen", "truthfulqa_datasets"),
    "aime2024_gen": (_P + "aime2024.aime2024_gen", "aime2024_datasets"),
    "svamp_gen": (_P + "SVAMP.svamp_gen", "svamp_datasets"),
    "lambada_gen": (_P + "lambada.lambada_gen", "lambada_datasets"),
    "storycloze_gen": (_P + "storycloze.storycloze_gen", "storycloze_datasets"),
    "tydiqa_gen": (_P + "tydiqa.tydiqa_gen", "tydiqa_datasets"),
    "squad20_gen": (_P + "squad20.squad20_gen", "squad20_datasets"),
}
"""Allowlisted OpenCompass 0.5.4 config name → (module, variable holding its dataset list)."""

_CONFIG_SHAPED = re.compile(r".*_(gen|ppl|clp|ll|llm|llmjudge)(_[0-9a-f]{6})?$")
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


def dataset_args(name: str) -> dict[str, Any]:
    """What the runner needs to load dataset `name` (container paths). Raises a 422."""
    if name in DEMO_DATASETS:
        path = f"{DEMO_DIR}/{name}.jsonl"
        return {"kind": DEMO_DATASETS[name], "name": name, "path": path}
    if name in CONFIGS:
        module, variable = CONFIGS[name]
        document: dict[str, Any] = {
            "kind": "config",
            "name": name,
            "module": module,
            "variable": variable,
            "data_root": COMPASS_DATA,
        }
        if name in DEMO_GSM8K_FALLBACK:
            document["demo_rows"] = f"{DEMO_DIR}/{DEMO_GSM8K_FALLBACK[name]}.jsonl"
        return document
    if _CONFIG_SHAPED.fullmatch(name):
        why = (
            "perplexity configs need logprobs, which the chat API cannot give"
            if "_ppl" in name
            else "it is not among the supported OpenCompass configs"
        )
        raise InvalidRequest(
            f"dataset {name!r}: {why}; supported: {', '.join(sorted(CONFIGS))}, the demo datasets "
            f"{', '.join(sorted(DEMO_DATASETS))}, or a custom file {COMPASS_DATA}/<name>.jsonl",
            field="eval_datasets.dataset_id",
        )
    if not _USER_NAME.fullmatch(name):
        raise InvalidRequest(
            f"dataset {name!r}: a custom dataset name is letters, digits, _ and - "
            f"(the file {COMPASS_DATA}/<name>.jsonl)",
            field="eval_datasets.dataset_id",
        )
    return {"kind": "custom", "name": name, "path": f"{COMPASS_DATA}/{name}.jsonl"}
