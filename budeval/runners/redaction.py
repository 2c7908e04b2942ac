"""Keep the model's API key out of what a run prints and writes: one rule set for every runner.

Standard library only: the runners import it as a sibling script inside engine environments and
images (like `output_digest.py`). Two kinds of rule:

- The key's own text, in every form it takes in output: raw, Python-repr-escaped, JSON-escaped
  (`json.dumps`, also with `/` escaped as `\\/`), URL-encoded. OpenCompass takes several keys
  separated by commas; each part is a key too. A key (or part) shorter than `MIN_SECRET` is not
  replaced as text: it cannot be told from ordinary words (a key `none` would turn lm-eval's
  filter name into `***` and corrupt results.json), and such a key is no secret.
- Credentials by their context, whatever their value (so also a short or unknown key):
  `Bearer <token>`; `Authorization:` / `X-Api-Key:` / `api-key:` header values (quoted or not,
  as in a logged header dict; any scheme: Bearer, Basic, Token); `api_key=`, `access_token=`,
  `token=`, `key=` in URLs and query strings (`api_key=` anywhere).

Streams and failure lines get both kinds (`Redactor.__call__`); files a run wrote are scrubbed of
the key's text only (`Redactor.scrub`): context rules could change result files that merely quote
such words, and the key itself is what must not remain.
"""

from __future__ import annotations

import io
import json
import os
import re
from typing import Any
from urllib.parse import quote

MASK = "***"
MIN_SECRET = 8

_TOKEN = r"(?:\*\*\*|[A-Za-z0-9._~+/=:-]+)"
"""A credential value; an already masked one counts, so the scheme before it stays."""
CONTEXT_RULES = (
    # Authorization: Bearer x / 'Authorization': 'Basic x' / x-api-key: x / "api-key": "x"
    re.compile(
        r"(?i)((?:proxy-)?authorization|x-api-key|api-key)([\"']?\s*[:=]\s*[\"']?)"
        r"(?:(bearer|basic|token)\s+)?" + _TOKEN
    ),
    re.compile(r"\b(Bearer)(\s+)()" + _TOKEN),
    re.compile(r"(?i)([?&;](?:api[_-]?key|apikey|key|access[_-]?token|token))(=)()[^&\s\"'#]+"),
    re.compile(r"(?i)(\bapi[_-]?key)(=[\"']?)()[^&\s\"'#,;)]+"),
)


def _masked(match: re.Match[str]) -> str:
    scheme = match.group(3)
    return f"{match.group(1)}{match.group(2)}{scheme + ' ' if scheme else ''}{MASK}"


def secret_forms(*keys: str) -> list[str]:
    """Every text form of the keys (and of their comma-separated parts), longest first."""
    parts = {part.strip() for key in keys if key for part in (key, *key.split(","))}
    forms: set[str] = set()
    for part in (part for part in parts if len(part) >= MIN_SECRET):
        escaped = json.dumps(part)[1:-1]
        forms |= {part, repr(part)[1:-1], escaped, escaped.replace("/", "\\/"), quote(part, "")}
        forms.add(json.dumps(part, ensure_ascii=False)[1:-1])
    return sorted(forms, key=len, reverse=True)


class Redactor:
    """`redact(text)` masks the keys and any credential in context; `scrub(dir)` cleans files."""

    def __init__(self, *keys: str) -> None:
        self.forms = secret_forms(*keys)

    def __call__(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, MASK)
        for rule in CONTEXT_RULES:
            text = rule.sub(_masked, text)
        return text

    def scrub(self, directory: str | os.PathLike[str]) -> list[str]:
        """Replace the key's text in every regular file under `directory`; the names changed."""
        needles = [form.encode() for form in self.forms]
        changed: list[str] = []
        for root, _, files in os.walk(directory) if needles else ():
            for path in (os.path.join(root, name) for name in files):
                if os.path.islink(path):
                    continue
                try:
                    with open(path, "rb") as handle:
                        content = handle.read()
                except OSError:
                    continue
                if any(needle in content for needle in needles):
                    for needle in needles:
                        content = content.replace(needle, MASK.encode())
                    with open(path, "wb") as handle:
                        handle.write(content)
                    changed.append(os.path.basename(path))
        return changed


class RedactingStream(io.TextIOBase):
    """A text stream that redacts before writing to the real one.

    Text is held until a newline, carriage return or flush, so a key split across two writes
    (print writes text and end separately) is still seen whole."""

    def __init__(self, stream: Any, redact: Redactor) -> None:
        self._stream = stream
        self._redact = redact
        self._held = ""

    def write(self, text: str) -> int:
        self._held += text
        cut = max(self._held.rfind("\n"), self._held.rfind("\r"))
        if cut >= 0:
            ready, self._held = self._held[: cut + 1], self._held[cut + 1 :]
            self._stream.write(self._redact(ready))
        return len(text)

    def flush(self) -> None:
        if self._held:
            self._stream.write(self._redact(self._held))
            self._held = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return int(self._stream.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._stream, "encoding", "utf-8"))

    def writable(self) -> bool:
        return True
