"""The OpenAI wire format of the demo endpoint: request bodies in, response bodies out.

Pure: a request dict and an `AnswerBook` give a response dict or an `ApiError`; sockets, threads,
clocks and fault injection live in `endpoint_http`. Errors use OpenAI's shape
`{"error": {"message", "type", "param", "code"}}` and never quote a header.
"""

from __future__ import annotations

import re
from typing import Any

from budeval.demo.endpoint_answers import AnswerBook


class ApiError(Exception):
    """An HTTP error response in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.kind, "param": None, "code": self.code}
        return {"error": error}


def unauthorised() -> ApiError:
    return ApiError(401, "Incorrect API key provided.", code="invalid_api_key")


def not_found(path: str) -> ApiError:
    return ApiError(404, f"Unknown endpoint {path}: not served here.", code="not_found")


def injected(status: int, retry_after: float) -> ApiError:
    """A fault the endpoint was told to inject (429 carries `Retry-After`)."""
    if status == 429:
        headers = {"Retry-After": f"{retry_after:g}"}
        message = "Rate limit reached (demo endpoint: injected fault)."
        return ApiError(429, message, kind="requests", code="rate_limit_exceeded", headers=headers)
    message = "The server had an error while processing your request (demo endpoint: injected)."
    return ApiError(status, message, kind="server_error")


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: words and punctuation marks."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def models(model: str, created: int) -> dict[str, Any]:
    entry = {"id": model, "object": "model", "created": created, "owned_by": "budeval-demo"}
    return {"object": "list", "data": [entry]}


def _check(body: Any, model: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    if body.get("stream"):
        raise ApiError(400, "Streaming is not supported by the demo endpoint; send stream=false.")
    if "model" in body and body["model"] != model:
        message = f"The model `{body['model']}` does not exist (this endpoint serves `{model}`)."
        raise ApiError(404, message, code="model_not_found")
    return body


def _stop(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(marker, str) for marker in stop):
        return stop
    raise ApiError(400, "`stop` must be a string or a list of strings.")


def _content(message: Any) -> str:
    if not isinstance(message, dict) or "role" not in message:
        raise ApiError(400, "Each message must be an object with `role` and `content`.")
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return "".join(part for part in parts if isinstance(part, str))
    raise ApiError(400, "`content` must be a string or a list of content parts.")


def chat_prompt(body: dict[str, Any]) -> str:
    """The text answered: the last user message (all messages if there is none)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "`messages` must be a non-empty list.")
    contents = [(message.get("role"), _content(message)) for message in messages]
    users = [text for role, text in contents if role == "user"]
    return users[-1] if users else "\n".join(text for _, text in contents)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat(
    book: AnswerBook, body: Any, model: str, rid: str, created: int
) -> tuple[dict[str, Any], list[str]]:
    """(chat.completion response, answered texts)."""
    body = _check(body, model)
    prompt = chat_prompt(body)
    text = book.reply(prompt, _stop(body))
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "logprobs": None,
        "finish_reason": "stop",
    }
    response = {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": _usage(count_tokens(prompt), count_tokens(text)),
    }
    return response, [text]


def completion_prompts(body: dict[str, Any]) -> list[str | bytes]:
    """A string, a list of strings, token ids (bytes: 0 to 255) or a list of token-id lists."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(item, int) for item in prompt):
            prompt = [prompt]
        return [item if isinstance(item, str) else _token_bytes(item) for item in prompt]
    raise ApiError(400, "`prompt` must be a string, a list of strings or a list of token ids.")


def _token_bytes(tokens: Any) -> bytes:
    if isinstance(tokens, list) and all(type(t) is int and 0 <= t < 256 for t in tokens):
        return bytes(tokens)
    raise ApiError(400, "Token ids must be bytes (0-255): this endpoint's tokenizer is byte-level.")


def completions(
    book: AnswerBook, body: Any, model: str, rid: str, created: int
) -> tuple[dict[str, Any], list[str]]:
    """(text_completion response, answered texts); `echo` + `logprobs` score the prompt."""
    body = _check(body, model)
    stop, max_tokens = _stop(body), body.get("max_tokens", 16)
    echo = bool(body.get("echo")) and body.get("logprobs") is not None
    choices, answers, prompt_tokens, completion_tokens = [], [], 0, 0
    for index, prompt in enumerate(completion_prompts(body)):
        raw = prompt if isinstance(prompt, bytes) else prompt.encode()
        text = raw.decode("utf-8", "replace")
        if echo:
            generated = 0 if max_tokens == 0 else 1
            logprobs = book.echo_logprobs(raw, generated)
            text += " " * generated
            choice = {"text": text, "logprobs": logprobs, "finish_reason": "length"}
            prompt_tokens += len(raw)
            completion_tokens += generated
        else:
            answer = book.reply(text, stop) if max_tokens != 0 else ""
            answers.append(answer)
            choice = {"text": answer, "logprobs": None, "finish_reason": "stop"}
            prompt_tokens += count_tokens(text)
            completion_tokens += count_tokens(answer)
        choices.append({"index": index, **choice})
    response = {
        "id": f"cmpl-{rid}",
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": _usage(prompt_tokens, completion_tokens),
    }
    return response, answers
