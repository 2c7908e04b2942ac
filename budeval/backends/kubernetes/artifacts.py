"""The service's side of the results channel: decode the reader's log, unpack it safely, check it.

The reader Job (`budeval/runners/kube_results.py`) prints a run's output directory as a base64
tar.gz between two marker lines. Here the log lines become bytes again, and the tarball is unpacked
into the run's local output directory only if every member is a plain directory or regular file
with a relative path that stays inside it (no absolute paths, no `..`, no links, no devices). The
unpacked tree must then have the digest the engine's wrapper reported in its termination message;
otherwise nothing is kept. No Kubernetes client here: lines in, files out.
"""

from __future__ import annotations

import base64
import binascii
import io
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from budeval.errors import BackendError
from budeval.runners.output_digest import output_digest as runner_digest

BEGIN = "BUDEVAL-ARTIFACTS-BEGIN"
END = "BUDEVAL-ARTIFACTS-END"
UNREADABLE = "ResultsUnreadable"


def _unreadable(message: str) -> BackendError:
    return BackendError(message, reason=UNREADABLE)


def read_artifacts(log_lines: Iterable[str]) -> tuple[str, bytes]:
    """(the reader's digest, the tar.gz) from the reader's log; the last complete block wins."""
    found: tuple[str, bytes] | None = None
    body: list[str] | None = None
    digest = ""
    for raw in log_lines:
        line = raw.strip()
        if line.startswith(BEGIN + " ") or line == BEGIN:
            body, digest = [], line[len(BEGIN) :].strip()
        elif line.startswith(END) and body is not None:
            try:
                data = base64.b64decode("".join(body), validate=True)
            except (binascii.Error, ValueError) as error:
                raise _unreadable(f"the results are not valid base64: {error}") from error
            size = line[len(END) :].strip()
            if not size.isdigit() or int(size) != len(data):
                raise _unreadable(f"the results have {len(data)} bytes, the reader sent {size}")
            found, body = (digest, data), None
        elif body is not None:
            body.append(line)
    if found is None:
        raise _unreadable("the reader's log has no complete artifacts block")
    return found


def decode_artifacts(log_lines: Iterable[str]) -> bytes:
    """The tar.gz between the reader's markers; BackendError(ResultsUnreadable) when absent/bad."""
    return read_artifacts(log_lines)[1]


def output_digest(path: Path | str) -> str:
    """The digest the in-job wrapper reports (one implementation: budeval/runners)."""
    return runner_digest(str(path))[2]


def _checked_members(tar: tarfile.TarFile) -> list[tuple[tarfile.TarInfo, PurePosixPath]]:
    members = []
    for member in tar.getmembers():
        path = PurePosixPath(member.name)
        if member.name.startswith(("/", "\\")) or path.is_absolute() or ".." in path.parts:
            raise _unreadable(f"unsafe path in the results: {member.name!r}")
        if not (member.isreg() or member.isdir()):
            raise _unreadable(f"the results hold a link or special file: {member.name!r}")
        if path.parts in ((), (".",)):
            continue
        members.append((member, path))
    return members


def _extract(tar: tarfile.TarFile, members: list, dest: Path) -> None:
    root = dest.resolve()
    for member, path in members:
        target = dest.joinpath(*path.parts)
        if not target.resolve().is_relative_to(root):
            raise _unreadable(f"unsafe path in the results: {member.name!r}")
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:
            raise _unreadable(f"cannot read {member.name!r} from the results")
        with source, open(target, "wb") as handle:
            shutil.copyfileobj(source, handle)


def unpack(tar_bytes: bytes, dest: Path, expected_digest: str | None) -> None:
    """Unpack the tar.gz into `dest` (replacing it) if it is safe and has the expected digest.

    Work happens in a sibling directory that replaces `dest` only at the end, so a failed or
    retried unpack never leaves a half-written or mixed output behind.
    """
    partial = dest.parent / f".{dest.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:gz") as tar:
                _extract(tar, _checked_members(tar), partial)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise _unreadable(f"the results are not a readable tar.gz: {error}") from error
        digest = output_digest(partial)
        if expected_digest is not None and digest != expected_digest:
            raise _unreadable(f"the results' digest {digest} is not the run's {expected_digest}")
        shutil.rmtree(dest, ignore_errors=True)
        partial.rename(dest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
