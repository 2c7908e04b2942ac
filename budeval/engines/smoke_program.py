"""The program a smoke run executes (`python -m budeval.engines.smoke_program`).

Standard library only, so it starts fast and runs in any image with budeval installed. It reads
its parameters from ENGINE_ARGS (never from argv), prints them, sleeps, writes a results file and
exits with the configured code. It never prints its environment: the API key is in it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

RESULTS_FILE = "smoke-results.json"


def main() -> int:
    args = json.loads(os.environ.get("ENGINE_ARGS", "{}"))
    output = Path(os.environ.get("OUTPUT_DIR") or args.get("output_dir", "/output"))
    output.mkdir(parents=True, exist_ok=True)
    with (output / "launches.log").open("a") as launches:
        launches.write(f"{os.getpid()}\n")
    print(f"smoke: ENGINE_ARGS={json.dumps(args, sort_keys=True)}", flush=True)
    print(f"smoke: api key present: {bool(os.environ.get('OPENAI_API_KEY'))}", flush=True)
    duration = float(args.get("duration_seconds") or 0)
    deadline = time.monotonic() + duration
    while (left := deadline - time.monotonic()) > 0:
        print(f"smoke: working, {left:.1f}s left", flush=True)
        time.sleep(min(1.0, left))
    exit_code = int(args.get("exit_code") or 0)
    if exit_code != 0:
        print(f"smoke: failing on purpose with exit code {exit_code}", file=sys.stderr, flush=True)
        return exit_code
    result = {
        "dataset": args.get("dataset"),
        "metric": "score",
        "value": args.get("score", 0.0),
        "n_samples": args.get("n_samples", 0),
    }
    (output / RESULTS_FILE).write_text(json.dumps(result))
    print(f"smoke: done, score={result['value']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
