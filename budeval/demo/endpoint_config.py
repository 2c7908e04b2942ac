"""The demo endpoint's settings, validated on construction (used by the CLI and `DemoEndpoint`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from budeval.demo.endpoint_faults import STATUSES
from budeval.demo.endpoint_http import MODES


@dataclass(frozen=True)
class EndpointConfig:
    host: str = "127.0.0.1"
    port: int = 0
    """0 = a free port chosen by the OS."""
    accuracy: float = 0.7
    """Exactly round(accuracy·N) questions of every dataset are answered right."""
    latency_ms: float = 0.0
    """Added to every completion request (the handler thread sleeps; others go on)."""
    error_rate: float = 0.0
    error_burst: int = 1
    error_status: str = "429"
    """"429", "500" or "mixed"; see `endpoint_faults`."""
    retry_after: float = 0.0
    """`Retry-After` seconds sent with injected 429s."""
    api_key: str | None = field(default=None, repr=False)
    """If set, requests must carry `Authorization: Bearer <key>`; never printed or logged."""
    model: str = "demo-model"
    mode: str = "both"
    """"chat", "completions" or "both": the other completion route answers 404."""
    datasets_dir: Path | None = None
    """`*.jsonl` files here are served too (file stem = dataset name) beside the generated ones."""
    log: Path | None = None
    """Optional JSONL request log (bodies and answers; no headers; the key masked)."""
    down_after: int | None = None
    """Go down after answering this many completion requests."""
    down_for: float | None = None
    """…and come back after this many seconds (None: stay down)."""

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.port <= 65535, f"port must be within 0-65535, got {self.port}"),
            (0.0 <= self.accuracy <= 1.0, f"accuracy must be in [0, 1], got {self.accuracy}"),
            (self.latency_ms >= 0, f"latency must be >= 0 ms, got {self.latency_ms}"),
            (0.0 <= self.error_rate <= 1.0, f"error rate must be in [0, 1], got {self.error_rate}"),
            (self.error_burst >= 1, f"error burst must be >= 1, got {self.error_burst}"),
            (self.error_status in STATUSES, f"error status must be one of {STATUSES}"),
            (self.retry_after >= 0, f"retry-after must be >= 0, got {self.retry_after}"),
            (self.mode in MODES, f"mode must be one of {MODES}, got {self.mode!r}"),
            (self.down_after is None or self.down_after >= 1, "down-after must be >= 1"),
            (self.down_for is None or self.down_for >= 0, "down-for must be >= 0"),
            (self.api_key is None or self.api_key != "", "the API key must not be empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
