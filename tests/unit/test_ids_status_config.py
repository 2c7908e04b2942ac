from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from budeval.config import Settings
from budeval.ids import dns1123_name, is_valid_id
from budeval.status import EvalStatus, RunStatus, overall_status, run_may_move

DNS1123 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("value", ["abc", "A-1", "run_1.2:3", "0abc", "x" * 128])
def test_valid_ids(value: str) -> None:
    assert is_valid_id(value)


@pytest.mark.parametrize(
    "value", ["", "..", "../x", "a/b", "a b", "a;b", "$(x)", "a\nb", "-a", "x" * 129]
)
def test_invalid_ids(value: str) -> None:
    assert not is_valid_id(value)


@pytest.mark.parametrize("value", ["Run_1", "run-1", "9lives", "x" * 128, "a.b:c", "UPPER"])
def test_dns_names_are_valid_short_and_distinct(value: str) -> None:
    name = dns1123_name(value, prefix="eval-")
    assert DNS1123.fullmatch(name) and len(name) <= 63
    assert dns1123_name(value, prefix="eval-") == name  # stable
    assert dns1123_name("Run_1") != dns1123_name("run-1")  # sanitised alike, still distinct


def test_runs_only_move_forward_and_terminal_sticks() -> None:
    assert run_may_move(RunStatus.PENDING, RunStatus.RUNNING)
    assert not run_may_move(RunStatus.RUNNING, RunStatus.SCHEDULED)
    assert run_may_move(RunStatus.SCHEDULED, RunStatus.FAILED)
    assert not run_may_move(RunStatus.SUCCEEDED, RunStatus.FAILED)


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        ([RunStatus.SUCCEEDED, RunStatus.SUCCEEDED], EvalStatus.SUCCEEDED),
        ([RunStatus.SUCCEEDED, RunStatus.FAILED], EvalStatus.PARTIALLY_FAILED),
        ([RunStatus.FAILED, RunStatus.FAILED], EvalStatus.FAILED),
        ([RunStatus.SUCCEEDED, RunStatus.CANCELLED], EvalStatus.CANCELLED),
        ([], EvalStatus.FAILED),
    ],
)
def test_overall_status(runs: list[RunStatus], expected: EvalStatus) -> None:
    assert overall_status(runs) is expected


def test_settings_refuse_open_bind_without_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDEVAL_HOST", "0.0.0.0")
    with pytest.raises(ValidationError, match="BUDEVAL_API_TOKENS"):
        Settings()
    monkeypatch.setenv("BUDEVAL_API_TOKENS", "t1, t2")
    settings = Settings()
    assert [token.get_secret_value() for token in settings.api_tokens] == ["t1", "t2"]
    assert "t1" not in repr(settings)


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BUDEVAL_HOME", str(tmp_path))
    settings = Settings()
    assert settings.host == "127.0.0.1" and settings.is_loopback_bind
    assert settings.store_url == f"sqlite:///{tmp_path}/budeval.sqlite"
    assert settings.progress_interval_seconds == 300
    assert settings.profile.run_volume_size == "10Gi"
    assert Settings(storage_profile="production").profile.datasets_access_mode == "ReadWriteMany"
