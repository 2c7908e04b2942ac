"""The egress policy, pure: every refusal, deny over allow, resolve-then-check, the resolver."""

from __future__ import annotations

import ast
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from budeval import egress
from budeval.config import Settings
from budeval.egress import EgressPolicy, EgressRefused, Unresolvable, check, system_resolver

DEFAULT = EgressPolicy()


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def resolve(host: str) -> Sequence[str]:
        calls.append(host)
        if host not in table:
            raise Unresolvable("no such host")
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pass@models.example.com/v1",
        "http://user@models.example.com/v1",
        "ftp://models.example.com/v1",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http://models.example.com:0/v1",
        "http://models.example.com:65536/v1",
        "http://models.example.com:http/v1",
        "http:///v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/",
        "http://[fe80::1]/v1",
        "http://[::ffff:169.254.169.254]/v1",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./computeMetadata/v1/",
        "http://metadata/computeMetadata/v1/",
        "http://0.0.0.0:8000/v1",
        "http://100.100.100.200/latest/meta-data",
        "http://169%2e254%2e169%2e254/latest/",  # parsers that decode escapes would go there
        "http://169.254.169.254\\.models.example.com/v1",  # backslash: parser differentials
        "http://mödels.example.com/v1",
    ],
)
def test_refused_by_default(url: str) -> None:
    with pytest.raises(EgressRefused) as caught:
        check(url, DEFAULT, resolver({"models.example.com": ["203.0.113.7"]}))
    assert "pass" not in caught.value.message and "user" not in caught.value.message
    assert caught.value.field is None or "169.254" not in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/v1",
        "http://localhost:8000/v1",
        "http://[::1]:8000/v1",
        "https://models.example.com/v1",
        "http://10.1.2.3:8000/v1",
        "http://vllm.models.svc.cluster.local:8000/v1",
    ],
)
def test_loopback_private_and_public_are_allowed_by_default(url: str) -> None:
    table = {
        "localhost": ["127.0.0.1", "::1"],
        "models.example.com": ["203.0.113.7"],
        "vllm.models.svc.cluster.local": ["10.96.0.12"],
    }
    check(url, DEFAULT, resolver(table))


def test_a_name_resolving_to_a_denied_address_is_refused() -> None:
    resolve = resolver({"innocent.example.com": ["203.0.113.7", "169.254.169.254"]})
    with pytest.raises(EgressRefused, match="resolves to"):
        check("https://innocent.example.com/v1", DEFAULT, resolve)
    assert resolve.calls == ["innocent.example.com"]  # type: ignore[attr-defined]


def test_cidr_deny_list_and_loopback_deny() -> None:
    policy = EgressPolicy(deny=("10.0.0.0/8", "127.0.0.0/8", "::1"))
    resolve = resolver({"inside.corp": ["10.4.5.6"], "localhost": ["::1"]})
    for url in ("http://10.9.9.9/v1", "http://inside.corp/v1", "http://127.0.0.1:9/v1"):
        with pytest.raises(EgressRefused):
            check(url, policy, resolve)
    with pytest.raises(EgressRefused):
        check("http://localhost:9/v1", policy, resolve)
    check("http://192.168.1.5/v1", policy, resolve)


def test_host_pattern_deny() -> None:
    policy = EgressPolicy(deny=("*.internal", "evil.example.com"))
    for url in ("http://db.internal/v1", "http://EVIL.example.com/v1"):
        with pytest.raises(EgressRefused, match="host is denied"):
            check(url, policy, resolver({}))  # refused before any lookup


def test_allow_list_admits_only_its_entries_and_deny_still_wins() -> None:
    policy = EgressPolicy(allow=("10.0.0.0/8", "*.models.example.com"), deny=("10.66.0.0/16",))
    resolve = resolver(
        {
            "a.models.example.com": ["203.0.113.9"],
            "b.models.example.com": ["10.66.1.1"],
            "elsewhere.org": ["198.51.100.1"],
            "mixed.org": ["10.1.1.1", "198.51.100.1"],
        }
    )
    check("http://10.1.2.3/v1", policy, resolve)
    check("https://a.models.example.com/v1", policy, resolve)
    for url in (
        "http://198.51.100.1/v1",
        "http://elsewhere.org/v1",
        "http://mixed.org/v1",  # every address must be allowed
        "http://b.models.example.com/v1",  # allowed name, denied address
        "http://10.66.0.1/v1",
        "http://169.254.169.254/",  # the built-in deny stays
    ):
        with pytest.raises(EgressRefused):
            check(url, policy, resolve)


def test_builtin_deny_can_be_turned_off_by_the_operator() -> None:
    check("http://169.254.169.254/", EgressPolicy(builtin_deny=False))


def test_an_unresolvable_name_is_reported_as_such() -> None:
    with pytest.raises(Unresolvable):
        check("http://no-such-host.invalid/v1", DEFAULT, resolver({}))
    assert check("http://no-such-host.invalid/v1", DEFAULT) == []  # patterns only


def test_the_system_resolver_answers_and_is_bounded() -> None:
    resolve = system_resolver(timeout=5)
    assert "127.0.0.1" in resolve("localhost") or "::1" in resolve("localhost")
    assert "169.254.169.254" in resolve("2852039166")  # a decimal IPv4 literal, as libc reads it
    with pytest.raises(EgressRefused):
        check("http://2852039166/latest", DEFAULT, resolve)
    with pytest.raises(Unresolvable):
        resolve("no-such-host.invalid")
    started = time.monotonic()
    with pytest.raises(Unresolvable):
        system_resolver(timeout=0.001)("example.invalid")
    assert time.monotonic() - started < 1


def test_settings_build_the_policy_and_refuse_bad_entries() -> None:
    settings = Settings(egress_allow="10.0.0.0/8, *.corp", egress_deny="127.0.0.0/8")
    assert settings.egress.allow == ("10.0.0.0/8", "*.corp")
    assert settings.egress.deny == ("127.0.0.0/8",)
    with pytest.raises(ValueError):
        Settings(egress_deny="not a cidr/99")


def test_the_policy_is_a_bottom_module() -> None:
    """Importable from config, schemas, preflight and the Kubernetes backend alike."""
    tree = ast.parse(Path(egress.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert {name for name in imported if name and name.startswith("budeval")} <= {"budeval.errors"}
