"""The runners' one redaction module, on the union of the rules the two runners had apart: the
key literal, its escaped forms, OpenCompass's comma-separated keys, `Bearer <key>`,
`Authorization:` headers, `api_key=` in URLs, a key split across writes, short keys."""

from __future__ import annotations

import ast
import io
import json
import sys
from pathlib import Path

import pytest

from budeval.runners import kube_job, lmeval_runner, opencompass_runner, redaction
from budeval.runners.redaction import MASK, RedactingStream, Redactor

KEY = 'sk-live/4Ab"c+d\\e'
"""A key with characters that JSON, repr and URLs escape differently."""

CASES = [
    ("plain sk-live-0123456789 end", "sk-live-0123456789", "plain *** end"),
    (
        "'Authorization': 'Bearer sk-live-0123456789'",
        "sk-live-0123456789",
        "'Authorization': 'Bearer ***'",
    ),
    ("Authorization: Bearer other-token-xyz", "sk-live-0123456789", "Authorization: Bearer ***"),
    ("authorization=Basic dXNlcjpwYXNz", "", "authorization=Basic ***"),
    ('{"x-api-key": "abc"}', "", '{"x-api-key": "***"}'),
    ("api-key: short", "", "api-key: ***"),
    ("headers={'Authorization': 'Bearer none'}", "none", "headers={'Authorization': 'Bearer ***'}"),
    ("GET http://h/v1/models?api_key=k1&x=1", "", "GET http://h/v1/models?api_key=***&x=1"),
    ("http://h/v1?key=abc#frag and &token=t", "", "http://h/v1?key=***#frag and &token=***"),
    ("model_args api_key=sk-abc,base_url=x", "", "model_args api_key=***,base_url=x"),
    (
        "keys sk-first-1234,sk-second-1234 and sk-second-1234",
        "sk-first-1234,sk-second-1234",
        "keys *** and ***",
    ),
    ("filter none stays; bearer of news stays", "none", "filter none stays; bearer of news stays"),
]


@pytest.mark.parametrize(("text", "key", "expected"), CASES)
def test_union_of_the_rules(text: str, key: str, expected: str) -> None:
    assert Redactor(key)(text) == expected


def test_every_escaped_form_of_the_key_is_masked() -> None:
    redact = Redactor(KEY)
    for form in (
        KEY,
        repr(KEY)[1:-1],
        json.dumps(KEY)[1:-1],
        json.dumps(KEY)[1:-1].replace("/", "\\/"),
        "sk-live%2F4Ab%22c%2Bd%5Ce",
    ):
        assert redact(f"<{form}>") == f"<{MASK}>", form
    document = json.dumps({"headers": {"Authorization": f"Bearer {KEY}"}, "k": KEY})
    assert KEY not in redact(document) and "4Ab" not in redact(document)


def test_a_key_too_short_to_tell_from_text_is_not_replaced_as_text() -> None:
    assert redaction.secret_forms("none") == []  # else "filter": "none" would become ***
    assert "sk-12345" in redaction.secret_forms("sk-12345")
    assert Redactor("none")('{"filter": "none"}') == '{"filter": "none"}'
    assert Redactor("")("unchanged") == "unchanged"


def test_stream_masks_the_key_even_when_split_across_writes() -> None:
    sink = io.StringIO()
    stream = RedactingStream(sink, Redactor("sk-SECRET-1"))
    stream.write("'Authorization': 'Bearer sk-SE")
    stream.write("CRET-1'\nnext sk-SECRET-1")
    assert sink.getvalue() == "'Authorization': 'Bearer ***'\n"
    stream.flush()
    assert sink.getvalue() == "'Authorization': 'Bearer ***'\nnext ***"


def test_scrub_replaces_the_key_text_in_files_only(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "params.py").write_text(f"key='sk-second-1234'\nk2={json.dumps(KEY)}\n")
    (tmp_path / "results.json").write_text('{"note": "Authorization: Bearer words"}')
    (tmp_path / "link").symlink_to(tmp_path / "tmp" / "params.py")
    changed = Redactor("sk-first-1234,sk-second-1234", KEY).scrub(tmp_path)
    assert changed == ["params.py"]
    assert (tmp_path / "tmp" / "params.py").read_text() == "key='***'\nk2=\"***\"\n"
    assert "Bearer words" in (tmp_path / "results.json").read_text()  # context rules: streams


def test_both_engine_runners_and_the_job_wrapper_use_this_module() -> None:
    """No runner keeps a rule set of its own."""
    assert opencompass_runner.Redactor is Redactor
    assert lmeval_runner.Redactor is Redactor and lmeval_runner.RedactingStream is RedactingStream
    for module in (lmeval_runner, opencompass_runner, kube_job):
        source = Path(module.__file__ or "").read_text()
        assert ".replace(secret" not in source and "secret_forms" not in source, module.__name__
    assert kube_job.redact("x sk-kube-secret y") == "x sk-kube-secret y"  # not a secret var


def test_kube_job_masks_secret_looking_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-kube-secret")
    assert kube_job.redact("x sk-kube-secret y, Authorization: Bearer z") == (
        "x *** y, Authorization: Bearer ***"
    )


def test_standard_library_only() -> None:
    tree = ast.parse(Path(redaction.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {name.split(".")[0] for name in names} <= {*sys.stdlib_module_names, "__future__"}
