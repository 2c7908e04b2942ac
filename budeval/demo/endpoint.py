"""`budeval demo-endpoint`: a deterministic OpenAI-compatible server to try budeval and to test.

It is NOT a model. It serves `/v1/models`, `/v1/chat/completions` and `/v1/completions`, finds the
demo-dataset question in each prompt and answers it right for exactly round(accuracy·N) questions
of every dataset, so real engines (lm-evaluation-harness, OpenCompass) report a known score. It can
add latency, inject deterministic 429/500 bursts, serve only one API mode, and go down and come
back, so tests can check retries and failure handling against a real socket.

Standard library only (it starts in milliseconds). The API key (`--api-key`, else
`BUDEVAL_DEMO_API_KEY`) is compared, never printed, never written to the request log.

    python -m budeval.demo.endpoint --port 0 --accuracy 0.7      # prints the base URL

In tests:

    with DemoEndpoint(accuracy=0.5, api_key="k") as endpoint:
        endpoint.fail_next(3, 429)   # then run an engine against endpoint.url
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from types import FrameType, TracebackType
from typing import Any

from budeval.demo import endpoint_cli
from budeval.demo.endpoint_answers import AnswerBook, load_rows
from budeval.demo.endpoint_config import EndpointConfig
from budeval.demo.endpoint_faults import FaultPlan, Faults, RequestCounts
from budeval.demo.endpoint_http import Behaviour, Listener, RequestLog

KEY_ENV = "BUDEVAL_DEMO_API_KEY"

__all__ = ["KEY_ENV", "DemoEndpoint", "EndpointConfig", "RequestCounts", "main"]


class DemoEndpoint:
    """The demo endpoint in a background thread; a context manager. Keyword arguments override
    fields of `config` (see `EndpointConfig`). The key is taken as given (no env lookup here)."""

    def __init__(self, config: EndpointConfig | None = None, /, **changes: Any) -> None:
        self.config = dataclasses.replace(config or EndpointConfig(), **changes)
        config = self.config
        self._rows = load_rows(config.datasets_dir)
        plan = FaultPlan(config.error_rate, config.error_burst, config.error_status)
        self._behaviour = Behaviour(
            book=AnswerBook(self._rows, config.accuracy),
            model=config.model,
            mode=config.mode,
            api_key=config.api_key,
            latency_ms=config.latency_ms,
            retry_after=config.retry_after,
            faults=Faults(plan),
            on_down=self._on_down,
        )
        if config.down_after is not None:
            self._behaviour.faults.down_after(config.down_after)
        self._listener = Listener(config.host, config.port, self._behaviour)
        self._down_for = config.down_for

    # Life cycle -----------------------------------------------------------------------------

    def start(self) -> DemoEndpoint:
        if self.config.log is not None and self._behaviour.log is None:
            self._behaviour.log = RequestLog(self.config.log, self.config.api_key)
        self._listener.start()
        return self

    def stop(self) -> None:
        """Go down for good (the request log is closed); `start` may be called again."""
        self._listener.stop()
        log, self._behaviour.log = self._behaviour.log, None
        if log is not None:
            log.close()

    def __enter__(self) -> DemoEndpoint:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._listener.port

    @property
    def url(self) -> str:
        """Base URL ending in `/v1` (what budeval and the engines are given)."""
        return f"http://{self.config.host}:{self.port}/v1"

    @property
    def up(self) -> bool:
        return self._listener.up

    # Observation ----------------------------------------------------------------------------

    @property
    def requests(self) -> RequestCounts:
        """Counters since start (or `reset_counts`): total, by status, by path, in flight."""
        return self._behaviour.traffic.snapshot()

    def reset_counts(self) -> None:
        self._behaviour.traffic.reset()

    @property
    def datasets(self) -> list[str]:
        return sorted(self._rows)

    def rows(self, dataset: str) -> list[dict[str, Any]]:
        """The rows the endpoint knows for `dataset` (as in its JSONL file)."""
        return list(self._rows[dataset])

    def expected_accuracy(self, dataset: str) -> float:
        """The exact score (0 to 1) an engine must report over the whole `dataset`."""
        return self._behaviour.book.expected_accuracy(dataset)

    # Behaviour at run time ------------------------------------------------------------------

    def set_accuracy(self, accuracy: float) -> None:
        self._behaviour.book = AnswerBook(self._rows, accuracy)

    def set_latency(self, latency_ms: float) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency must be >= 0, got {latency_ms}")
        self._behaviour.latency_ms = latency_ms

    def set_errors(self, rate: float, burst: int = 1, status: str = "429") -> None:
        """Replace the fault plan (numbering restarts at 0); rate 0 stops injecting."""
        self._behaviour.faults.set_plan(FaultPlan(rate, burst, status))

    def fail_next(self, count: int, status: int = 429) -> None:
        """The next `count` completion requests fail with `status` (then it answers again)."""
        self._behaviour.faults.fail_next(count, status)

    def go_down(self) -> None:
        """Close the listening socket (connections are refused) and cut open connections."""
        self._listener.stop()

    def come_back(self) -> None:
        """Listen again on the same port (a tripped `down_after` is cleared)."""
        self._behaviour.faults.down_after(None)
        self._listener.start()

    def down_after(self, count: int, down_for: float | None = None) -> None:
        """Go down after answering `count` more completion requests; come back after `down_for`
        seconds if given (else stay down until `come_back`)."""
        self._down_for = down_for
        self._behaviour.faults.down_after(count)

    def _on_down(self) -> None:
        threading.Thread(target=self._outage, args=(self._down_for,), daemon=True).start()

    def _outage(self, down_for: float | None) -> None:
        self.go_down()
        if down_for is not None:
            time.sleep(down_for)
            self.come_back()


def main(argv: list[str] | None = None) -> int:
    """Run the endpoint in the foreground until SIGINT/SIGTERM. Prints the base URL, not the key."""
    try:
        config = endpoint_cli.parse(argv, os.environ.get(KEY_ENV))
        endpoint = DemoEndpoint(config).start()
    except (ValueError, OSError) as error:
        print(f"demo-endpoint: {error}", file=sys.stderr)
        return 2
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    print(endpoint_cli.banner(endpoint.url, config, endpoint.datasets), flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        endpoint.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
