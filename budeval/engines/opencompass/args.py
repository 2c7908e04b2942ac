"""The generation arguments an OpenCompass run accepts, checked when the request arrives.

`eval_model_info.extra_args` is free-form in the seeds' API; every value that reaches OpenCompass's
config is validated here, so a bad value is a 422 naming the field, not a crash minutes into a run.
Unknown keys are refused, except the lm-evaluation-harness names clients already send, which are
mapped onto OpenCompass's own where they mean the same thing:

    num_concurrent → batch_size      (requests in flight within one task)
    max_retries    → retry
    max_gen_toks   → max_out_len
    limit          → the first N samples (OpenCompass `test_range`)
    model_type     → must name a chat-completions model (OpenCompass talks to /chat/completions)

`retry` counts retries after the first attempt; OpenCompass's `retry` counts attempts (0 would
never call the endpoint), so the rendered config gets `retry + 1`.

Dataset configs can override the model: OpenCompass 0.5.4 (`OpenICLInferTask._inference`) copies
the model's `max_out_len` and `batch_size` into a dataset's inferencer only where the dataset sets
none, and 13 allowlisted configs set `max_out_len` (gsm8k 512, triviaqa 50, lambada 5, …). So the
values a request sets explicitly are also returned as `inferencer`, which the runner writes into
every dataset's inferencer; without them each config keeps its own. The other arguments cannot be
overridden by a dataset (`max_seq_len` is always the model's; `temperature`, `retry`, `timeout` and
`query_per_second` live in the model only). Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Any

from budeval.errors import InvalidRequest

FIELD = "eval_model_info.extra_args"

TIKTOKEN_MODELS = frozenset(
    {"gpt-4", "gpt-4o", "gpt-4.1", "gpt-3.5-turbo", "gpt-3.5", "gpt-35-turbo", "gpt-5", "o1", "o3"}
    | {"o4-mini"}
)
"""Model names tiktoken maps to `cl100k_base` / `o200k_base`, the encodings seeded offline."""

CHAT_MODEL_TYPES = frozenset(
    {"chat", "local-chat-completions", "openai-chat-completions", "chat-completions"}
)
_SAFE_PATH = re.compile(r"^/datasets(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+/?$")

# name → (kind, low, high); kind "int" refuses floats and booleans, "number" takes both numbers.
LIMITS: dict[str, tuple[str, float, float]] = {
    "query_per_second": ("number", 0, 1000),  # > 0, checked apart
    "max_out_len": ("int", 1, 32768),
    "max_seq_len": ("int", 1, 1_000_000),
    "batch_size": ("int", 1, 1024),
    "retry": ("int", 0, 20),
    "temperature": ("number", 0, 2),
    "max_num_workers": ("int", 1, 16),
    "request_timeout": ("number", 1, 3600),
    "limit": ("int", 1, 10_000_000),
}
ALIASES = {"num_concurrent": "batch_size", "max_retries": "retry", "max_gen_toks": "max_out_len"}
INFERENCER = ("max_out_len", "batch_size")
"""Arguments a dataset config's inferencer may set; when requested they go into every inferencer."""

DEFAULTS: dict[str, Any] = {
    "query_per_second": 10,
    "max_out_len": 1024,
    "max_seq_len": 4096,
    "batch_size": 8,
    "retry": 3,
    "temperature": 0.0,
    "max_num_workers": 2,
    "request_timeout": 600,
    "limit": None,
    "tokenizer_path": "gpt-4",
}
"""What a run uses when the request says nothing (`limit` None = every sample)."""


def generation_args(extra_args: dict[str, Any]) -> dict[str, Any]:
    """The validated, complete argument set (defaults filled, aliases mapped) plus `inferencer`,
    the requested values that must override dataset configs. Raises 422s."""
    values = dict(DEFAULTS)
    # lm-eval aliases first, so OpenCompass's own name wins when a request sends both
    for key, value in sorted(extra_args.items(), key=lambda item: item[0] not in ALIASES):
        if key == "model_type":
            _check_model_type(value)
            continue
        target = ALIASES.get(key, key)
        if target == "tokenizer_path":
            values[target] = _tokenizer_path(value)
        elif target in LIMITS:
            values[target] = _number(key, value, *LIMITS[target])
        else:
            known = sorted({*LIMITS, *ALIASES, "tokenizer_path", "model_type"})
            raise InvalidRequest(
                f"{FIELD}.{key}: unknown argument for engine opencompass "
                f"(known: {', '.join(known)})",
                field=f"{FIELD}.{key}",
            )
    requested = {ALIASES.get(key, key) for key in extra_args}
    values["inferencer"] = {key: values[key] for key in INFERENCER if key in requested}
    if values["max_out_len"] >= values["max_seq_len"]:
        raise InvalidRequest(
            f"{FIELD}.max_out_len: must be below max_seq_len ({values['max_seq_len']})",
            field=f"{FIELD}.max_out_len",
        )
    return values


def _number(key: str, value: Any, kind: str, low: float, high: float) -> int | float:
    where = f"{FIELD}.{key}"
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_number = is_int or (isinstance(value, float) and math.isfinite(value))
    if kind == "int" and isinstance(value, float) and value.is_integer():
        value, is_int = int(value), True
    if not (is_int if kind == "int" else is_number):
        wanted = "an integer" if kind == "int" else "a number"
        raise InvalidRequest(f"{where}: must be {wanted}, got {value!r}"[:300], field=where)
    if key == "query_per_second" and value <= 0:
        raise InvalidRequest(f"{where}: must be greater than 0", field=where)
    if not low <= value <= high:
        raise InvalidRequest(
            f"{where}: must be within {low:g} to {high:g}, got {value}", field=where
        )
    return value  # type: ignore[no-any-return]


def _tokenizer_path(value: Any) -> str:
    where = f"{FIELD}.tokenizer_path"
    if isinstance(value, str) and (value in TIKTOKEN_MODELS or _safe_dataset_path(value)):
        return value
    raise InvalidRequest(
        f"{where}: must be one of {', '.join(sorted(TIKTOKEN_MODELS))} (tiktoken, offline) or a "
        "tokenizer folder under /datasets",
        field=where,
    )


def _safe_dataset_path(value: str) -> bool:
    """Under /datasets, no `..` (no component may start with a dot), no odd characters."""
    return bool(_SAFE_PATH.fullmatch(value))


def _check_model_type(value: Any) -> None:
    if value not in CHAT_MODEL_TYPES:
        raise InvalidRequest(
            f"{FIELD}.model_type: engine opencompass calls the chat-completions API only "
            f"(accepted: {', '.join(sorted(CHAT_MODEL_TYPES))})",
            field=f"{FIELD}.model_type",
        )
