"""Run one lm-eval task for budeval: `python /opt/budeval/runners/lmeval_runner.py`.

Standalone (standard library + lm_eval; budeval is not installed where this runs). Reads
`ENGINE_ARGS` (JSON, built by `budeval.engines.lmeval`; container paths already mapped in local
mode), writes the task YAML, then runs lm-eval's own CLI code (`lm_eval run <lm_eval_args>`)
in-process, so results and sample files are exactly what the `lm_eval` command writes and a run
can be replayed by hand with the same arguments. One change: the task index is built without
lm-eval's ~1,000 built-in tasks (`include_defaults=False`; ~7 s saved per run), which cannot change
a result because the task is always given as a YAML file.

The API key arrives only as `OPENAI_API_KEY`. lm-eval logs request headers on HTTP errors
(`'Authorization': 'Bearer <key>'`), so stdout and stderr are wrapped before lm-eval is imported
and redacted by `redaction.py` (the rules every runner shares); the output files are checked too. On
failure the last line on stderr is `lmeval-runner: FAILED: <one-line reason>` and the exit code
is 1 (2 for bad ENGINE_ARGS).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any

if __package__:  # imported as budeval.runners.lmeval_runner (the adapter tests)
    from budeval.runners.redaction import MIN_SECRET, RedactingStream, Redactor
else:  # a script in the engine's environment: its own folder is first on sys.path
    from redaction import MIN_SECRET, RedactingStream, Redactor

KEY_ENV = "OPENAI_API_KEY"
PREFIX = "lmeval-runner:"
LOGLIKELIHOOD = {"loglikelihood", "loglikelihood_rolling", "multiple_choice"}


class RunnerError(Exception):
    """A failure with a reason worth showing as is."""


def fail(reason: str, code: int = 1) -> int:
    line = " ".join(reason.split())[:800]
    print(f"{PREFIX} FAILED: {line}", file=sys.stderr, flush=True)
    termination_log = os.environ.get("TERMINATION_LOG")
    if termination_log:  # the run's failure message (Kubernetes: the termination message)
        line = Redactor(os.environ.get(KEY_ENV, ""))(line)
        with open(termination_log, "w") as handle:
            handle.write(line)
    return code


UNREACHABLE = {"ClientConnectionError", "ConnectionError", "Timeout", "TimeoutError"}
"""Class names (anywhere in the MRO) of aiohttp, requests and builtin connection failures."""


def causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def describe(error: BaseException, endpoint: str | None = None) -> str:
    """One line: what went wrong, for an operator. Only type names and messages are used
    (aiohttp's repr would carry the request headers); the line is redacted on the way out too."""
    chain = causes(error)
    for item in chain:
        if (http := http_status(item)) is not None:
            return "endpoint answered HTTP {} {} for {}".format(*http)
    for item in reversed(chain):
        if UNREACHABLE & {kind.__name__ for kind in type(item).__mro__}:
            where = f" {endpoint}" if endpoint else ""
            return f"endpoint{where} unreachable: {type(item).__name__}: {item}"
    return " <- ".join(f"{type(item).__name__}: {item}".rstrip(": ") for item in chain[:4])


def http_status(error: BaseException) -> tuple[int, str, str] | None:
    """(status, reason, url) of an HTTP error from aiohttp (concurrent requests) or requests."""
    status = getattr(error, "status", None)
    info = getattr(error, "request_info", None)
    if isinstance(status, int) and info is not None:
        return status, str(getattr(error, "message", "")), str(info.real_url)
    response = getattr(error, "response", None)
    if response is not None and isinstance(getattr(response, "status_code", None), int):
        return response.status_code, str(response.reason), str(response.url)
    return None


def map_datasets_path(value: str, datasets_dir: str, base: Path) -> str:
    """A data path from an operator's task YAML, made usable here: `/datasets/…` → the local
    datasets dir; a relative path → relative to the YAML's folder; URLs and names unchanged."""
    if value == "/datasets" or value.startswith("/datasets/"):
        return datasets_dir + value[len("/datasets") :]
    if "://" in value or value.startswith("/"):
        return value
    return str(base / value)


def _map_files(value: Any, datasets_dir: str, base: Path) -> Any:
    if isinstance(value, str):
        return map_datasets_path(value, datasets_dir, base)
    if isinstance(value, list):
        return [_map_files(item, datasets_dir, base) for item in value]
    if isinstance(value, dict):
        return {key: _map_files(item, datasets_dir, base) for key, item in value.items()}
    return value


def wrap_task_file(path: Path, datasets_dir: str) -> dict[str, Any]:
    """A task config that includes the operator's YAML (its `!function`s and includes resolve
    next to it) with its data paths mapped."""
    if not path.is_file():
        raise RunnerError(f"task file {path} not found (place the task YAML there)")
    from lm_eval.tasks._yaml_loader import load_yaml

    try:
        config = load_yaml(path, resolve_func=False, recursive=True)
    except Exception as error:
        raise RunnerError(f"task file {path.name} is not valid YAML: {describe(error)}") from None
    if config.get("output_type") in LOGLIKELIHOOD:
        raise RunnerError(
            f"task {config.get('task')!r} is a {config['output_type']} task; the lmeval engine "
            "runs generative tasks (output_type: generate_until) only"
        )
    wrapper: dict[str, Any] = {"include": str(path)}
    kwargs = config.get("dataset_kwargs")
    if isinstance(kwargs, dict) and "data_files" in kwargs:
        files = _map_files(kwargs["data_files"], datasets_dir, path.parent)
        wrapper["dataset_kwargs"] = {**kwargs, "data_files": files}
    dataset_path = config.get("dataset_path")
    if isinstance(dataset_path, str) and dataset_path.startswith(("/datasets/", "./", "../")):
        wrapper["dataset_path"] = map_datasets_path(dataset_path, datasets_dir, path.parent)
    return wrapper


def write_task(args: dict[str, Any]) -> Path:
    target = Path(args["task_yaml"])
    target.parent.mkdir(parents=True, exist_ok=True)
    if args.get("task_config"):
        config = args["task_config"]
    elif args.get("task_file"):
        config = wrap_task_file(Path(args["task_file"]), args["datasets_dir"])
    else:
        raise RunnerError("ENGINE_ARGS names neither task_config nor task_file")
    target.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
    return target


def evaluate(lm_eval_args: list[str]) -> None:
    """`lm_eval run …` through lm-eval's own entry point, indexing no built-in task."""
    import lm_eval.tasks
    from lm_eval.__main__ import cli_evaluate

    class LocalTaskManager(lm_eval.tasks.TaskManager):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["include_defaults"] = False
            super().__init__(*args, **kwargs)

    lm_eval.tasks.TaskManager = LocalTaskManager
    sys.argv = ["lm_eval", "run", *lm_eval_args]
    cli_evaluate()


def endpoint_of(args: dict[str, Any]) -> str | None:
    try:
        cli = args["lm_eval_args"]
        return str(json.loads(cli[cli.index("--model_args") + 1])["base_url"])
    except (KeyError, ValueError, IndexError, TypeError):
        return None


def run(args: dict[str, Any], redact: Redactor) -> int:
    output_dir = Path(args["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HOME", args["hf_home"])
    os.environ.setdefault("LMEVAL_LOG_LEVEL", "INFO")
    task_yaml = write_task(args)
    print(f"{PREFIX} task {args['task']} ({task_yaml})", flush=True)
    print(f"{PREFIX} lm_eval run {shlex.join(args['lm_eval_args'])}", flush=True)
    evaluate(list(args["lm_eval_args"]))
    if not glob.glob(str(output_dir / "*" / "results_*.json")):
        raise RunnerError("lm-eval finished without writing results_*.json")
    if scrubbed := redact.scrub(output_dir):  # lm-eval should never write it; make sure
        print(f"{PREFIX} removed the API key from {', '.join(scrubbed)}", flush=True)
    print(f"{PREFIX} done", flush=True)
    return 0


def main() -> int:
    key = os.environ.get(KEY_ENV, "")
    redact = Redactor(key)
    sys.stdout = RedactingStream(sys.stdout, redact)
    sys.stderr = RedactingStream(sys.stderr, redact)
    if key and not redact.forms:
        print(
            f"{PREFIX} the API key is shorter than {MIN_SECRET} characters: masked in headers only"
        )
    try:
        args = json.loads(os.environ["ENGINE_ARGS"])
        if not isinstance(args, dict) or args.get("format") != 1:
            raise ValueError("not a format-1 object")
    except (KeyError, ValueError) as error:
        return fail(f"ENGINE_ARGS unusable: {describe(error)}", 2)
    try:
        return run(args, redact)
    except RunnerError as error:
        return fail(str(error))
    except SystemExit as error:
        if error.code in (0, None):
            return 0
        return fail(f"lm-eval exited with {error.code}")
    except BaseException as error:  # any engine failure becomes a one-line reason
        traceback.print_exc()
        return fail(f"evaluation failed: {describe(error, endpoint_of(args))}")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    # Skip interpreter shutdown (~1 s with lm-eval loaded); after a failure asyncio would also
    # print "Task exception was never retrieved" for abandoned requests, burying the reason.
    os._exit(code)
