"""Command line of the demo endpoint: flags → `EndpointConfig`, and the start-up banner.

The banner says whether a key is required and where it came from, never the key itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from budeval.demo.endpoint_config import EndpointConfig
from budeval.demo.endpoint_faults import STATUSES
from budeval.demo.endpoint_http import MODES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="budeval demo-endpoint",
        description="A deterministic OpenAI-compatible endpoint answering the demo datasets with "
        "a set accuracy. For trying budeval and for tests: it is not a model.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=0, help="0 = pick a free port (printed)")
    add("--accuracy", type=float, default=0.7, help="exact share of right answers per dataset")
    add("--latency-ms", type=float, default=0.0, help="added to every completion request")
    add("--error-rate", type=float, default=0.0, help="share of completion requests that fail")
    add("--error-burst", type=int, default=1, help="consecutive failures per burst")
    add("--error-status", choices=STATUSES, default="429", help="mixed = alternate per burst")
    add("--retry-after", type=float, default=0.0, help="Retry-After seconds sent with 429")
    add("--api-key", default=None, help="require this bearer key (default: $BUDEVAL_DEMO_API_KEY)")
    add("--model", default="demo-model", help="served model name")
    add("--mode", choices=MODES, default="both", help="which completion API is served")
    add("--datasets-dir", type=Path, default=None, help="extra *.jsonl datasets (same row format)")
    add("--log", type=Path, default=None, help="JSONL request log (no headers, no key)")
    add("--down-after", type=int, default=None, help="go down after N completion requests")
    add("--down-for", type=float, default=None, help="…and come back after S seconds")
    return parser


def parse(argv: list[str] | None, env_key: str | None) -> EndpointConfig:
    """Parse flags (argparse exits on malformed ones); ValueError if a value is out of range."""
    args = build_parser().parse_args(argv)
    return EndpointConfig(
        host=args.host,
        port=args.port,
        accuracy=args.accuracy,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        error_burst=args.error_burst,
        error_status=args.error_status,
        retry_after=args.retry_after,
        api_key=args.api_key if args.api_key is not None else (env_key or None),
        model=args.model,
        mode=args.mode,
        datasets_dir=args.datasets_dir,
        log=args.log,
        down_after=args.down_after,
        down_for=args.down_for,
    )


def banner(url: str, config: EndpointConfig, datasets: list[str]) -> str:
    key = "required" if config.api_key else "not required"
    return (
        f"demo endpoint (not a model) listening on {url}\n"
        f"  model={config.model} mode={config.mode} accuracy={config.accuracy} "
        f"latency_ms={config.latency_ms:g} error_rate={config.error_rate:g} "
        f"error_burst={config.error_burst} error_status={config.error_status}\n"
        f"  datasets: {', '.join(datasets)}\n"
        f"  api key: {key}"
    )
