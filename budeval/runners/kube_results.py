"""The results reader: print a run's output directory to stdout as a base64 tarball.

`python -m budeval.runners.kube_results /output` (or run as a script) in a small Job that mounts
the run's output PVC read-only. Its log is the channel back to the service, which needs only the
`pods/log` permission (no `pods/exec`) and works with ReadWriteOnce volumes. Output:

    BUDEVAL-ARTIFACTS-BEGIN <digest>
    <the tar.gz, base64 in lines of 76 characters>
    BUDEVAL-ARTIFACTS-END <size of the tar.gz in bytes>

The digest is computed exactly as `kube_job.py` computes it for the termination message, so the
service can check that what it unpacks is what the engine left. Only directories and regular files
go into the tarball, in sorted order; links and devices are left out. Standalone: standard library
only, streaming, so memory stays small whatever the size of the output.
"""

from __future__ import annotations

import base64
import os
import sys
import tarfile
from typing import BinaryIO

if __package__:  # imported as budeval.runners.<name> (tests, the service image's -m)
    from budeval.runners.output_digest import output_digest
else:  # a script in an engine image: its own folder is first on sys.path
    from output_digest import output_digest

BEGIN = "BUDEVAL-ARTIFACTS-BEGIN"
END = "BUDEVAL-ARTIFACTS-END"
CHUNK = 57 * 1024
"""Bytes encoded at a time: a multiple of 57, so every full line has 76 characters."""


class Base64Lines:
    """A write-only binary stream that prints what it gets as base64 lines of 76 characters."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.held = b""
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.held += data
        cut = len(self.held) - len(self.held) % CHUNK
        if cut:
            self.out.write(base64.encodebytes(self.held[:cut]))
            self.held = self.held[cut:]
        return len(data)

    def close(self) -> None:
        if self.held:
            self.out.write(base64.encodebytes(self.held))
            self.held = b""


def entries(root: str) -> list[tuple[str, str]]:
    """(path, name in the archive) of every directory and regular file, sorted."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [name for name in dirs if not os.path.islink(os.path.join(folder, name))]
        for name in dirs + names:
            path = os.path.join(folder, name)
            if os.path.islink(path) or not (os.path.isdir(path) or os.path.isfile(path)):
                continue
            found.append((path, os.path.relpath(path, root).replace(os.sep, "/")))
    return sorted(found, key=lambda entry: entry[1])


def write_tarball(root: str, stream: Base64Lines) -> None:
    with tarfile.open(fileobj=stream, mode="w|gz", format=tarfile.PAX_FORMAT) as tar:
        for path, arcname in entries(root):
            info = tar.gettarinfo(path, arcname)
            if not (info.isreg() or info.isdir()):
                continue
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode &= 0o755
            if info.isreg():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)


def main(args: list[str]) -> int:
    root = args[0] if args else "/output"
    if not os.path.isdir(root):
        print(f"kube-results: {root} is not a directory", file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    _, _, digest = output_digest(root)
    out.write(f"{BEGIN} {digest}\n".encode())
    stream = Base64Lines(out)
    write_tarball(root, stream)
    stream.close()
    out.write(f"{END} {stream.size}\n".encode())
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
