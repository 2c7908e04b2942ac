"""The digest of a run's /output, computed the same way by the in-job wrapper, the results reader
and the service (which checks that what it unpacked is what the engine wrote).

Standard library only: the runners import it as a sibling script inside engine images.
"""

from __future__ import annotations

import hashlib
import os


def output_digest(root: str) -> tuple[int, int, str]:
    """(files, bytes, digest) of the regular files under `root`; symlinks are skipped."""
    lines, total = [], 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [name for name in dirs if not os.path.islink(os.path.join(folder, name))]
        for name in names:
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            file_hash = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    file_hash.update(block)
            total += os.path.getsize(path)
            relpath = os.path.relpath(path, root).replace(os.sep, "/")
            line = f"{relpath}\0{file_hash.hexdigest()}\n"
            lines.append(line.encode("utf-8", "surrogateescape"))
    return len(lines), total, hashlib.sha256(b"".join(sorted(lines))).hexdigest()
