"""The in-job wrapper of every Kubernetes run: `python /opt/budeval/runners/kube_job.py -- <argv>`.

Standalone (standard library only; it lives in every engine image, where budeval is not
installed). It runs the engine as a child with the environment unchanged, forwards SIGTERM and
SIGINT to it (the kubelet signals only PID 1, which is this wrapper), and after the engine exits
writes one JSON document to the container's termination message (`/dev/termination-log`, at most
4,096 bytes, the kubelet's limit):

    {"budeval": 1, "exit_code": 0, "reason": "<engine's one-line reason or null>",
     "files": 12, "bytes": 34567, "digest": "<sha256 over sorted 'path\\0sha256\\n' lines>"}

The reason comes from the file named by `TERMINATION_LOG` (the engine writes it on failure); the
counts and digest describe `$OUTPUT_DIR`, so the service can check the results it later reads.
It exits with the engine's exit code (128 + signal when the engine was killed). It never prints
or copies the environment: the API key is in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

if __package__:  # imported as budeval.runners.<name> (tests, the service image's -m)
    from budeval.runners.output_digest import output_digest
    from budeval.runners.redaction import Redactor
else:  # a script in an engine image: its own folder is first on sys.path
    from output_digest import output_digest
    from redaction import Redactor

LIMIT = 4096
PREFIX = "kube-job:"
SECRET_HINTS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def redact(text: str) -> str:
    """Hide values of secret-looking variables, should an engine put one in its reason."""
    hinted = [v for k, v in os.environ.items() if any(hint in k.upper() for hint in SECRET_HINTS)]
    return Redactor(*hinted)(text)


def read_reason(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(65536)
    except OSError:
        return None
    line = " ".join(text.split())
    return redact(line) if line else None


def shorten(reason: str, room: int) -> str | None:
    """The longest prefix of `reason` (plus "...") whose JSON form fits in `room` bytes."""
    if len(json.dumps(reason)) - 2 <= room:
        return reason
    used, cut = 0, 0
    for char in reason:
        used += len(json.dumps(char)) - 2
        if used > room - 3:
            break
        cut += 1
    return reason[:cut] + "..." if cut else None


def document(exit_code: int, reason: str | None, output_dir: str) -> str:
    """The termination message, cut to fit the kubelet's limit (only the reason is shortened)."""
    files, size, digest = output_digest(output_dir)
    body = {"budeval": 1, "exit_code": exit_code, "reason": ""}
    body |= {"files": files, "bytes": size, "digest": digest}
    room = LIMIT - len(json.dumps(body))
    body["reason"] = shorten(reason, room) if reason else None
    return json.dumps(body)


def run(argv: list[str]) -> tuple[int, str | None]:
    """Run the engine to its end; (exit code, a reason when it could not even start)."""
    try:
        child = subprocess.Popen(argv)
    except OSError as error:
        return 127, f"cannot start the engine {argv[0]!r}: {error.strerror}"

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    code = child.wait()
    return (128 - code if code < 0 else code), None


def main(args: list[str]) -> int:
    argv = args[1:] if args[:1] == ["--"] else args
    reason_file = os.environ.get("TERMINATION_LOG")
    if reason_file:
        with contextlib.suppress(OSError):
            os.unlink(reason_file)  # a stale reason must not describe this run
    if argv:
        code, start_error = run(argv)
    else:
        code, start_error = 2, "kube_job.py: no engine command after '--'"
    reason = start_error or read_reason(reason_file)
    output_dir = os.environ.get("OUTPUT_DIR", "/output")
    try:
        text = document(code, reason, output_dir)
    except OSError as error:  # an unreadable output file: report it, keep the exit code
        unreadable = f"cannot read the output: {error.strerror}: {error.filename}"
        body = {"budeval": 1, "exit_code": code, "reason": (reason or unreadable)[:1000]}
        text = json.dumps(body | {"files": None, "bytes": None, "digest": None})
    target = os.environ.get("BUDEVAL_TERMINATION_MESSAGE_PATH", "/dev/termination-log")
    try:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        print(f"{PREFIX} cannot write {target}: {error.strerror}", file=sys.stderr, flush=True)
    print(f"{PREFIX} engine exited with code {code}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
