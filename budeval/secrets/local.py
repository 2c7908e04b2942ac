"""A directory of 0600 JSON files, one per secret name."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from budeval.errors import NotFound
from budeval.ids import is_valid_id


class LocalSecretStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if not is_valid_id(name):
            raise ValueError("invalid secret name")
        return self.directory / f"{name}.json"

    def put(self, name: str, values: dict[str, str]) -> None:
        """Write atomically with mode 0600 (never world-readable, not even briefly)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(name)
        temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
        os.replace(temporary, path)

    def get(self, name: str) -> dict[str, str]:
        try:
            return dict(json.loads(self._path(name).read_text()))
        except FileNotFoundError:
            raise NotFound(f"secret {name!r} does not exist") from None

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def names(self, prefix: str = "") -> list[str]:
        """Names of the kept secrets that start with `prefix` (never their values)."""
        if not self.directory.exists():
            return []
        return sorted(
            path.stem for path in self.directory.glob(f"{prefix}*.json") if is_valid_id(path.stem)
        )

    def exists(self, name: str) -> bool:
        return self._path(name).exists()
