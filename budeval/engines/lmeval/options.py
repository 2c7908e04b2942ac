"""`eval_model_info.extra_args` as the lm-eval engine understands them, checked at submit.

The seeds share one `extra_args` between engines, so OpenCompass's names are accepted too and
mapped where lm-eval has the same knob (`retry` → `max_retries`, `max_out_len` → `max_gen_toks`,
`max_seq_len` → the API model's `max_length`, `request_timeout` → its `timeout`, rounded up to
whole seconds). `query_per_second` is accepted and validated but
has no lm-eval counterpart (lm-eval bounds load by `num_concurrent`, not by rate). Any other key
is refused with a 422 naming it, so a typo never silently changes nothing.

`max_retries` means retries after the first attempt. lm-eval's own `max_retries` counts attempts
(`stop_after_attempt`), so the engine passes `max_retries + 1` to it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from budeval.errors import InvalidRequest

FIELD_PREFIX = "eval_model_info.extra_args"


class LmEvalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    model_type: Literal["chat", "completions"] = "chat"
    """Which endpoint API lm-eval calls: `local-chat-completions` or `local-completions`."""
    num_concurrent: int = Field(default=4, ge=1, le=64)
    max_retries: int | None = Field(default=None, ge=0, le=20)
    retry: int | None = Field(default=None, ge=0, le=20)
    """OpenCompass's name for `max_retries`."""
    max_gen_toks: int | None = Field(default=None, ge=1, le=32768)
    max_out_len: int | None = Field(default=None, ge=1, le=32768)
    """OpenCompass's name for `max_gen_toks`."""
    temperature: float | None = Field(default=None, ge=0, le=2)
    batch_size: int = Field(default=1, ge=1, le=64)
    """Prompts per request (completions only; lm-eval forces 1 for chat)."""
    limit: int | None = Field(default=None, ge=1, le=1_000_000)
    """Evaluate only the first N documents (quick runs; scores are not comparable)."""
    max_seq_len: int | None = Field(default=None, ge=2, le=1_048_576)
    """OpenCompass's context length; lm-eval's `max_length`."""
    request_timeout: float | None = Field(default=None, ge=1, le=3600)
    """Seconds per request (lm-eval's `timeout`, whole seconds; its default is 300)."""
    query_per_second: float | None = Field(default=None, gt=0, le=100_000)
    """Accepted for OpenCompass compatibility; lm-eval has no rate limit (see num_concurrent)."""

    @property
    def retries(self) -> int:
        for value in (self.max_retries, self.retry):
            if value is not None:
                return value
        return 3

    @property
    def gen_toks(self) -> int | None:
        return self.max_gen_toks if self.max_gen_toks is not None else self.max_out_len

    def model_args(self, model: str, base_url: str) -> dict[str, Any]:
        """lm-eval's `--model_args` (JSON): never a key, header or token (they would be copied
        into results.json); the key reaches lm-eval through OPENAI_API_KEY only."""
        args: dict[str, Any] = {
            "model": model,
            "base_url": base_url,
            "num_concurrent": self.num_concurrent,
            "max_retries": self.retries + 1,
            "tokenized_requests": False,
            "tokenizer_backend": None,
        }
        if self.max_seq_len is not None:
            args["max_length"] = self.max_seq_len
        if self.request_timeout is not None:
            args["timeout"] = math.ceil(self.request_timeout)
        return args

    def gen_kwargs(self) -> dict[str, Any]:
        """lm-eval's `--gen_kwargs`: only what the request set (else the task's own defaults)."""
        kwargs: dict[str, Any] = {}
        if self.gen_toks is not None:
            kwargs["max_gen_toks"] = self.gen_toks
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        return kwargs


ALIASES = (("retry", "max_retries"), ("max_out_len", "max_gen_toks"))
"""(OpenCompass's name, lm-eval's name): both may be given only with the same value."""


def parse_options(extra_args: dict[str, Any]) -> LmEvalOptions:
    """The options, or InvalidRequest naming the offending `extra_args` key."""
    try:
        options = LmEvalOptions.model_validate(extra_args)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            known = ", ".join(sorted(LmEvalOptions.model_fields))
            message = f"unknown option for engine lmeval (known: {known})"
        else:
            message = first["msg"]
        raise InvalidRequest(
            f"{FIELD_PREFIX}.{where}: {message}", field=f"{FIELD_PREFIX}.{where}"
        ) from None
    for alias, name in ALIASES:
        given, own = getattr(options, alias), getattr(options, name)
        if given is not None and own is not None and given != own:
            raise InvalidRequest(
                f"{FIELD_PREFIX}.{alias}: {alias}={given} contradicts {name}={own}; give one",
                field=f"{FIELD_PREFIX}.{alias}",
            )
    return options
