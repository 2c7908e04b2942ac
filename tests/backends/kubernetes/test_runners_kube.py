"""The in-job wrapper and the results reader, run for real; the service side of the channel."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

import budeval.runners
from budeval.backends.kubernetes import artifacts
from budeval.errors import BackendError

RUNNERS = Path(budeval.runners.__file__).parent
KUBE_JOB = RUNNERS / "kube_job.py"
KUBE_RESULTS = RUNNERS / "kube_results.py"
KEY = "sk-live-abcdefghijklmnop"

ENGINE = """
import os, pathlib, sys
out = pathlib.Path(os.environ["OUTPUT_DIR"])
(out / "results").mkdir(parents=True, exist_ok=True)
(out / "results" / "scores.json").write_text('{"acc": 0.5}')
(out / "samples.jsonl").write_bytes(b"a\\n" * 1000)
os.symlink("/etc/passwd", out / "link")
assert os.environ["OPENAI_API_KEY"]  # the environment reaches the engine unchanged
reason = sys.argv[2] if len(sys.argv) > 2 else ""
if reason:
    pathlib.Path(os.environ["TERMINATION_LOG"]).write_text(reason + "\\n")
sys.exit(int(sys.argv[1]))
"""


def run_wrapper(
    tmp_path: Path, code: int, reason: str = ""
) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    output = tmp_path / "output"
    output.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "OUTPUT_DIR": str(output),
        "TERMINATION_LOG": str(tmp_path / "reason"),
        "BUDEVAL_TERMINATION_MESSAGE_PATH": str(tmp_path / "termination-log"),
        "OPENAI_API_KEY": KEY,
    }
    argv = [sys.executable, str(KUBE_JOB), "--", sys.executable, "-c", ENGINE, str(code), reason]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    text = (tmp_path / "termination-log").read_text()
    assert len(text.encode()) <= 4096
    return done, json.loads(text), output


def test_wrapper_reports_success(tmp_path: Path) -> None:
    done, document, output = run_wrapper(tmp_path, 0)
    assert done.returncode == 0
    assert document == {
        "budeval": 1,
        "exit_code": 0,
        "reason": None,
        "files": 2,
        "bytes": len('{"acc": 0.5}') + 2000,
        "digest": artifacts.output_digest(output),
    }
    assert KEY not in done.stdout + done.stderr


def test_wrapper_reports_failure_with_the_engine_reason(tmp_path: Path) -> None:
    done, document, _ = run_wrapper(tmp_path, 3, f"endpoint refused the key {KEY}")
    assert done.returncode == 3
    assert document["exit_code"] == 3
    assert document["reason"] == "endpoint refused the key ***"


def test_wrapper_fits_a_huge_reason_into_the_limit(tmp_path: Path) -> None:
    done, document, _ = run_wrapper(tmp_path, 1, 'huge "reason" \u00e9' * 2000)
    assert done.returncode == 1
    assert document["reason"].startswith('huge "reason" \u00e9')
    assert document["reason"].endswith("...")
    assert document["digest"]


def test_wrapper_without_an_engine_that_exists(tmp_path: Path) -> None:
    env = {"OUTPUT_DIR": str(tmp_path), "BUDEVAL_TERMINATION_MESSAGE_PATH": str(tmp_path / "t")}
    argv = [sys.executable, str(KUBE_JOB), "--", str(tmp_path / "no-such-engine")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 127
    assert "cannot start the engine" in json.loads((tmp_path / "t").read_text())["reason"]


def test_wrapper_forwards_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    engine = (
        "import pathlib, signal, sys, time\n"
        f"pathlib.Path({str(ready)!r}).write_text('1')\n"
        "time.sleep(60)\n"
    )
    env = {"OUTPUT_DIR": str(tmp_path), "BUDEVAL_TERMINATION_MESSAGE_PATH": str(tmp_path / "t")}
    argv = [sys.executable, str(KUBE_JOB), "--", sys.executable, "-c", engine]
    process = subprocess.Popen(argv, env=env)
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert json.loads((tmp_path / "t").read_text())["exit_code"] == 128 + signal.SIGTERM


@pytest.mark.parametrize("as_module", [True, False])
def test_results_round_trip(tmp_path: Path, as_module: bool) -> None:
    _, document, output = run_wrapper(tmp_path, 0)
    (output / "empty-dir").mkdir()
    command = (
        [sys.executable, "-m", "budeval.runners.kube_results", str(output)]
        if as_module
        else [sys.executable, str(KUBE_RESULTS), str(output)]
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    lines = done.stdout.splitlines()
    assert lines[0] == f"BUDEVAL-ARTIFACTS-BEGIN {document['digest']}"
    assert lines[-1].startswith("BUDEVAL-ARTIFACTS-END ")
    assert all(len(line) <= 76 for line in lines[1:-1])
    assert all(len(line) == 76 for line in lines[1:-2])
    noisy = ["2024-05-01 some earlier log line", *lines, "trailing noise"]
    digest, archive = artifacts.read_artifacts(noisy)
    assert digest == document["digest"]
    dest = tmp_path / "fetched"
    artifacts.unpack(artifacts.decode_artifacts(noisy), dest, document["digest"])
    assert (dest / "results" / "scores.json").read_text() == '{"acc": 0.5}'
    assert (dest / "empty-dir").is_dir()
    assert not (dest / "link").exists()
    assert artifacts.output_digest(dest) == document["digest"]
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert not any(member.issym() for member in tar.getmembers())


def test_unpack_rejects_a_wrong_digest(tmp_path: Path) -> None:
    archive = make_tar([("a.txt", b"hello")])
    with pytest.raises(BackendError) as caught:
        artifacts.unpack(archive, tmp_path / "dest", "0" * 64)
    assert caught.value.reason == "ResultsUnreadable"
    assert not (tmp_path / "dest").exists()


def make_tar(files: list[tuple[str, bytes]], link: tuple[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            tar.addfile(info)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "archive",
    [
        make_tar([("ok.txt", b"1"), ("../x", b"escape")]),
        make_tar([("/etc/evil", b"absolute")]),
        make_tar([("ok.txt", b"1")], link=("link", "/etc/passwd")),
        make_tar([("a/../../x", b"escape")]),
    ],
    ids=["dotdot", "absolute", "symlink", "nested-dotdot"],
)
def test_unpack_rejects_unsafe_members(tmp_path: Path, archive: bytes) -> None:
    with pytest.raises(BackendError) as caught:
        artifacts.unpack(archive, tmp_path / "dest", None)
    assert caught.value.reason == "ResultsUnreadable"
    assert not (tmp_path / "dest").exists()
    assert not (tmp_path / "x").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_unpack_replaces_an_older_output(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "stale").mkdir(parents=True)
    archive = make_tar([("a.txt", b"hello")])
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"hello")
    artifacts.unpack(archive, dest, artifacts.output_digest(tmp_path / "src"))
    assert sorted(path.name for path in dest.iterdir()) == ["a.txt"]


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["no markers at all"],
        ["BUDEVAL-ARTIFACTS-BEGIN abc", "!!!not base64!!!", "BUDEVAL-ARTIFACTS-END 3"],
        ["BUDEVAL-ARTIFACTS-BEGIN abc", "aGVsbG8=", "BUDEVAL-ARTIFACTS-END 99"],
        ["BUDEVAL-ARTIFACTS-BEGIN abc", "aGVsbG8="],
    ],
    ids=["empty", "no-markers", "bad-base64", "wrong-size", "truncated"],
)
def test_decode_refuses_a_bad_log(lines: list[str]) -> None:
    with pytest.raises(BackendError) as caught:
        artifacts.decode_artifacts(lines)
    assert caught.value.reason == "ResultsUnreadable"


def test_unpack_rejects_garbage(tmp_path: Path) -> None:
    with pytest.raises(BackendError):
        artifacts.unpack(b"not a tarball", tmp_path / "dest", None)
