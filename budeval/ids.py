"""Identifiers from requests, and the Kubernetes-safe names derived from them.

Request ids (eval_id, run_id, dataset_id, …) are accepted only in a conservative alphabet, so that
they can be used as path components, labels and log fields without escaping; anything else is a
422. Names that reach Kubernetes are derived (never copied): lower-cased, reduced to DNS-1123,
shortened, and made unique with a hash of the original id.
"""

from __future__ import annotations

import hashlib
import re

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
"""Letters, digits and `_ . : -`, starting with a letter or digit, at most 128 characters.
No `/`, no whitespace, no shell metacharacters; `..` cannot be a whole id."""

_ID_RE = re.compile(ID_PATTERN)
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
DNS1123_LABEL_MAX = 63


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.fullmatch(value))


def dns1123_name(value: str, *, prefix: str = "", max_length: int = DNS1123_LABEL_MAX) -> str:
    """A DNS-1123 label derived from `value`: stable, unique per value, ≤ max_length.

    A short hash of the original value is always appended, so two ids that sanitise to the same
    text (`Run_1` and `run-1`) still get different names.
    """
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    body = _NOT_DNS.sub("-", f"{prefix}{value}".lower()).strip("-")
    room = max_length - len(digest) - 1
    body = body[:room].rstrip("-") or "x"
    if not body[0].isalpha():
        body = f"r{body}"[:room].rstrip("-")
    return f"{body}-{digest}"
