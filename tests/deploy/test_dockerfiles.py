"""The Dockerfiles, structurally (no Docker engine here): non-root, the runners at
/opt/budeval/runners, kube_job.py as the engine entrypoint, and the same pins as the local recipes.
"""

from __future__ import annotations

import json
import runpy
import shlex
from pathlib import Path

import pytest

from budeval.backends.base import RUNNERS_MOUNT
from budeval.backends.local.environment import OFFLINE_SWITCHES
from budeval.config import Settings
from budeval.engines.lmeval import LmEvalEngine
from budeval.engines.opencompass import OpenCompassEngine
from budeval.engines.opencompass import recipe as opencompass_recipe

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
SERVICE = DOCKER / "service.Dockerfile"
ENGINES = {
    "opencompass": (DOCKER / "opencompass.Dockerfile", OpenCompassEngine),
    "lmeval": (DOCKER / "lmeval.Dockerfile", LmEvalEngine),
}
ALL = [SERVICE, *(path for path, _ in ENGINES.values())]
ENGINE_ENTRYPOINT = ["python", f"{RUNNERS_MOUNT}/kube_job.py", "--"]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; comments dropped, continuation lines joined."""
    result, pending = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    assert not pending, f"{path.name}: dangling line continuation"
    return result


def values(path: Path, keyword: str) -> list[str]:
    return [rest for kw, rest in instructions(path) if kw == keyword]


def env_of(path: Path) -> dict[str, str]:
    env = {}
    for rest in values(path, "ENV"):
        for item in shlex.split(rest):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def pip_installs(path: Path) -> list[list[str]]:
    """Arguments of each `pip install` in RUN instructions, in order."""
    found = []
    for rest in values(path, "RUN"):
        for command in rest.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                found.append(words[2:])
    return found


def requirements(args: list[str]) -> list[str]:
    """The requirement specifiers of one `pip install`, without options and their values."""
    result, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in {"--index-url", "-i", "--extra-index-url", "--find-links", "-f"}:
            skip = True
        elif not arg.startswith("-"):
            result.append(arg)
    return result


def copies(path: Path) -> list[tuple[list[str], str]]:
    result = []
    for rest in values(path, "COPY"):
        words = [word for word in rest.split() if not word.startswith("--")]
        result.append((words[:-1], words[-1]))
    return result


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_base_image_and_non_root_user(path):
    assert values(path, "FROM") == ["python:3.11-slim"]
    users = values(path, "USER")
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] == "1000"
    # USER comes after every RUN that needs root, and nothing switches back.
    kinds = [kw for kw, _ in instructions(path)]
    assert kinds.index("USER") > max(i for i, kw in enumerate(kinds) if kw == "RUN")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_copies_specific_paths_that_exist_and_nothing_secret(path):
    for sources, _target in copies(path):
        for source in sources:
            assert source not in {".", "./", "*"}, "copy specific paths, not the whole context"
            assert (ROOT / source).exists(), source
            assert not any(part in source for part in (".env", "secret", ".budeval", ".venv"))
    names = [*env_of(path), *(rest.split("=")[0] for rest in values(path, "ARG"))]
    for name in names:
        words = set(name.upper().split("_"))
        assert not words & {"TOKEN", "TOKENS", "PASSWORD", "SECRET", "KEY"}, name


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_runners_are_copied_to_the_container_path(path):
    # Every Job's command starts with kube_job.py, the smoke engine's (service image) too.
    assert (["budeval/runners/"], f"{RUNNERS_MOUNT}/") in copies(path)
    assert (ROOT / "budeval" / "runners").is_dir()


def test_service_image():
    assert json.loads(values(SERVICE, "ENTRYPOINT")[-1]) == ["budeval", "serve"]
    assert values(SERVICE, "EXPOSE") == ["8080"]
    assert ["."] in pip_installs(SERVICE)
    env = env_of(SERVICE)
    assert env["BUDEVAL_HOME"].startswith("/")
    assert not any(key in env for key in ("BUDEVAL_API_TOKENS", "BUDEVAL_DATABASE_URL"))


def test_service_image_name_is_the_settings_default():
    default = Settings.model_fields["kube_service_image"].default
    readme = " ".join((DOCKER / "README.md").read_text(encoding="utf-8").split())
    assert f"-t {default}" in readme
    assert "docker build -f deploy/docker/service.Dockerfile -t budeval/service:0.1.0" in readme


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_engine_image_entrypoint_and_environment(engine):
    path, cls = ENGINES[engine]
    assert json.loads(values(path, "ENTRYPOINT")[-1]) == ENGINE_ENTRYPOINT
    assert values(path, "WORKDIR")[-1] == "/tmp"
    env = env_of(path)
    for key, value in OFFLINE_SWITCHES.items():
        assert env.get(key) == value, key
    readme = " ".join((DOCKER / "README.md").read_text(encoding="utf-8").split())
    assert f"-f deploy/docker/{path.name} -t {cls.image} ." in readme
    assert cls.image in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_engine_pins_match_the_recipe(engine):
    path, cls = ENGINES[engine]
    installs = pip_installs(path)
    packages = [requirements(args) for args in installs]
    # Each of the recipe's phases is one pip install, in the recipe's order.
    phases = [list(phase) for phase in cls.recipe.phases]
    assert [p for p in packages if p in phases] == phases
    assert cls.version in " ".join(" ".join(p) for p in phases)


def test_opencompass_torch_comes_alone_from_the_cpu_index():
    path, _ = ENGINES["opencompass"]
    installs = pip_installs(path)
    torch = next(args for args in installs if any(a.startswith("torch==") for a in args))
    assert "--index-url" in torch
    assert requirements(torch) == ["torch==2.13.0"]
    args = dict(rest.split("=", 1) for rest in values(path, "ARG"))
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert installs.index(torch) < next(
        i
        for i, a in enumerate(installs)
        if f"opencompass=={opencompass_recipe.OPENCOMPASS_VERSION}" in a
    )


def test_opencompass_seeds_the_tiktoken_cache_with_the_recipes_code():
    path, _ = ENGINES["opencompass"]
    env = env_of(path)
    cache = f"{env['VIRTUAL_ENV']}/{opencompass_recipe.TIKTOKEN_CACHE}"
    runs = values(path, "RUN")
    assert any("seed_tiktoken_cache.py" in run and cache in run for run in runs)
    sources = {source for sources, _ in copies(path) for source in sources}
    assert "budeval/engines/opencompass/recipe.py" in sources
    assert "deploy/docker/seed_tiktoken_cache.py" in sources
    # The seeding script runs the recipe's own code, read from the file, not a copy of it.
    script = runpy.run_path(str(DOCKER / "seed_tiktoken_cache.py"), run_name="seed")
    recipe_file = ROOT / "budeval" / "engines" / "opencompass" / "recipe.py"
    assert script["seed_code"](str(recipe_file)) == opencompass_recipe.SEED_TIKTOKEN_CACHE
    assert env["TIKTOKEN_CACHE_DIR"] == cache


def test_engine_images_use_their_own_environment():
    for path, _ in ENGINES.values():
        env = env_of(path)
        assert env["VIRTUAL_ENV"] == "/opt/engine"
        assert env["PATH"].startswith("/opt/engine/bin:")
        assert any(run.startswith("python -m venv /opt/engine") for run in values(path, "RUN"))
