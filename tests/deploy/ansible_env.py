"""A cached Ansible environment for the playbook tests: ansible-core + kubernetes + kubernetes.core.

Built once per machine into `BUDEVAL_TEST_ANSIBLE_DIR` (default `~/.cache/budeval/test-ansible`)
and reused by later sessions, like the engine environments (tests/engines/conftest.py):

- a venv made with the running interpreter's `-m venv`, holding `ansible-core` and the
  `kubernetes` Python client (the modules run under this venv's python);
- the `kubernetes.core` collection, extracted from the `ansible` PyPI wheel (it is not a PyPI
  package of its own and Galaxy may be unreachable; docs/kubernetes-facts.md §4).

The directory name carries a digest of the recipe and a marker file is written last, so a changed
recipe builds a fresh environment and an interrupted build is redone. A file lock keeps parallel
sessions from building the same environment twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest

ANSIBLE_DIR_ENV = "BUDEVAL_TEST_ANSIBLE_DIR"
ANSIBLE_CORE = "ansible-core==2.19.14"
KUBERNETES = "kubernetes==37.0.2"
ANSIBLE_BUNDLE = "ansible==12.3.0"  # ships kubernetes.core 6.2.0
COLLECTION_PREFIX = "ansible_collections/kubernetes/core/"
MARKER = ".budeval-ansible.json"
RECIPE = {
    "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    "packages": [ANSIBLE_CORE, KUBERNETES],
    "collection_from": ANSIBLE_BUNDLE,
    "collection": COLLECTION_PREFIX,
}


class AnsibleEnv(NamedTuple):
    ansible_playbook: Path
    collections_path: Path
    python: Path


def root_dir() -> Path:
    configured = os.environ.get(ANSIBLE_DIR_ENV)
    return Path(configured) if configured else Path("~/.cache/budeval/test-ansible").expanduser()


def digest() -> str:
    return hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:12]


def _paths(target: Path) -> AnsibleEnv:
    return AnsibleEnv(
        target / "venv" / "bin" / "ansible-playbook",
        target / "collections",
        target / "venv" / "bin" / "python",
    )


def _installed(target: Path) -> bool:
    try:
        marker = json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return False
    env = _paths(target)
    return (
        marker.get("recipe") == RECIPE
        and env.ansible_playbook.exists()
        and env.python.exists()
        and (env.collections_path / COLLECTION_PREFIX / "MANIFEST.json").is_file()
    )


def _run(argv: list[str | Path]) -> None:
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def _build(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    env = _paths(target)
    _run([sys.executable, "-m", "venv", target / "venv"])
    pip = [env.python, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "install", "--quiet", ANSIBLE_CORE, KUBERNETES])
    with tempfile.TemporaryDirectory(prefix="ansible-wheel-") as wheels:
        _run([*pip, "download", "--quiet", "--no-deps", ANSIBLE_BUNDLE, "-d", wheels])
        (wheel,) = Path(wheels).glob("ansible-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.startswith(COLLECTION_PREFIX)]
            if not members:
                raise RuntimeError(f"{wheel.name} holds no {COLLECTION_PREFIX}")
            archive.extractall(env.collections_path, members)
    marker = {"recipe": RECIPE, "built_at": time.time()}
    (target / MARKER).write_text(json.dumps(marker, indent=2))


def ensure(say=print) -> AnsibleEnv:
    """The environment's (ansible-playbook, collections path, python), building it if needed."""
    root = root_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"ansible-{digest()}"
    if not _installed(target):
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _installed(target):
                started = time.monotonic()
                _build(target)
                say(
                    f"\n[ansible] environment built in {time.monotonic() - started:.0f} s: {target}"
                )
    return _paths(target)


def ansible_environ(home: Path, collections: Path) -> dict[str, str]:
    """Environment for an ansible-playbook run: private ANSIBLE_HOME/TMPDIR (the kubernetes
    client caches discovery under $TMPDIR, keyed by host — a per-test dir avoids a stale cache
    from another test server on the same port), the extracted collection, no colours."""
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / "tmp"
    tmp.mkdir(exist_ok=True)
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANSIBLE_", "K8S_AUTH_")) and k != "KUBECONFIG"
    }
    return {
        **environ,
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(tmp),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "TMPDIR": str(tmp),
        "KUBECONFIG": str(home / "no-kubeconfig"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


@pytest.fixture(scope="session")
def ansible() -> AnsibleEnv:
    """The cached environment (import into a test module: `from ... import ansible as ansible`)."""
    return ensure()


if __name__ == "__main__":
    print(ensure())
