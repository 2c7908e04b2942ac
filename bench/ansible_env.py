"""The seeds' side of bench/kubernetes.py: ansible-core + the kubernetes.core collection, offline.

    .venv/bin/python bench/ansible_env.py [--root DIR]      # create (or check) and print the paths

A virtualenv with `ansible-core==2.19.14` and the `kubernetes` client (what kubernetes.core's
`k8s_info` imports), plus only the `kubernetes.core` collection, extracted from the `ansible`
12.3.0 wheel: the collection is not a PyPI package of its own and Galaxy is not reachable
(docs/kubernetes-facts.md §4). Everything lives in `--root` (default
`/tmp/budeval-bench-ansible`, outside the checkout so that 230 MB of venv never shows up in
`git status`): `venv/` and `collections/ansible_collections/kubernetes/core/`.

An existing, working set is reused as it is: the root's own, or the one an earlier session left at
/tmp/ansvenv + /tmp/anscolls.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/tmp/budeval-bench-ansible")
LEGACY = (Path("/tmp/ansvenv"), Path("/tmp/anscolls"))
ANSIBLE_CORE = "ansible-core==2.19.14"
ANSIBLE_BUNDLE = "ansible==12.3.0"  # ships kubernetes.core 6.2.0; needs ansible-core 2.19.x
COLLECTION = "ansible_collections/kubernetes/core/"


class SetupError(Exception):
    """The Ansible side could not be found or made; the benchmark skips it and says why."""


@dataclass(frozen=True)
class AnsibleEnv:
    venv: Path
    collections: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def playbook(self) -> Path:
        return self.venv / "bin" / "ansible-playbook"

    def versions(self) -> dict[str, str]:
        code = (
            "import importlib.metadata as m, json; "
            "print(json.dumps({p: m.version(p) for p in ('ansible-core', 'kubernetes')}))"
        )
        done = subprocess.run([self.python, "-c", code], capture_output=True, text=True)
        import json

        found: dict[str, str] = json.loads(done.stdout) if done.returncode == 0 else {}
        galaxy = self.collections / COLLECTION / "MANIFEST.json"
        if galaxy.exists():
            found["kubernetes.core"] = json.loads(galaxy.read_text())["collection_info"]["version"]
        return found


def usable(env: AnsibleEnv) -> bool:
    if not env.playbook.exists() or not env.python.exists():
        return False
    if not (env.collections / COLLECTION / "plugins" / "modules" / "k8s_info.py").exists():
        return False
    check = subprocess.run(
        [env.python, "-c", "import ansible, kubernetes"], capture_output=True, text=True
    )
    return check.returncode == 0


def _run(*args: str | Path) -> None:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-2000:]
        raise SetupError(f"{' '.join(str(a) for a in args[:4])} … failed:\n{tail}")


def create(root: Path) -> AnsibleEnv:
    """A fresh venv and collection under `root` (≈ 15 s install + a 54 MB download)."""
    env = AnsibleEnv(root / "venv", root / "collections")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    print(f"  ansible: creating {env.venv} ({ANSIBLE_CORE} + kubernetes)", flush=True)
    _run(sys.executable, "-m", "venv", env.venv)
    _run(env.python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         ANSIBLE_CORE, "kubernetes")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ansible-wheel-") as wheels:
        print(f"  ansible: extracting kubernetes.core from the {ANSIBLE_BUNDLE} wheel", flush=True)
        _run(env.python, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             "--no-deps", ANSIBLE_BUNDLE, "-d", wheels)  # fmt: skip
        wheel = next(Path(wheels).glob("ansible-*.whl"), None)
        if wheel is None:
            raise SetupError(f"pip download {ANSIBLE_BUNDLE} left no wheel")
        with zipfile.ZipFile(wheel) as archive:
            members = [n for n in archive.namelist() if n.startswith(COLLECTION)]
            archive.extractall(env.collections, members)
    if not usable(env):
        raise SetupError(f"{root}: created, but ansible-playbook or k8s_info is not usable")
    return env


def ensure(root: Path | None = None, *, allow_create: bool = True) -> AnsibleEnv:
    """A working Ansible side: `root`'s (default /tmp/budeval-bench-ansible), else the legacy
    /tmp/ansvenv + /tmp/anscolls, else a new one in `root`. Raises SetupError."""
    target = root or DEFAULT_ROOT
    candidates = [AnsibleEnv(target / "venv", target / "collections")]
    if root is None:
        candidates.append(AnsibleEnv(*LEGACY))
    for candidate in candidates:
        if usable(candidate):
            return candidate
    if not allow_create:
        raise SetupError(f"no usable Ansible environment in {target} (and creating is off)")
    try:
        return create(target)
    except OSError as error:
        raise SetupError(f"creating {target} failed: {error}") from error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None, help=f"default {DEFAULT_ROOT}")
    args = parser.parse_args()
    try:
        env = ensure(args.root)
    except SetupError as error:
        print(f"ansible setup failed: {error}", file=sys.stderr)
        return 1
    print(f"venv        {env.venv}\ncollections {env.collections}\nversions    {env.versions()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
