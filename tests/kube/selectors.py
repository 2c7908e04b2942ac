"""Label and field selectors, parsed once into predicates over object dicts.

Label syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-joined.
Field syntax: `path=value`, `path==value`, `path!=value` over dotted paths (`metadata.name`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.kube.errors import bad_request

Predicate = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=,()]+)\s*(==|=|!=)\s*([^\s!=,()]*)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Callable[[dict[str, str]], bool]:
    eq = _EQ_RE.match(term)
    if eq:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    match = _SET_RE.match(term)
    if not match:
        raise bad_request(f"unable to parse requirement: {term!r}")
    negated, key, op, values = match.groups()
    if op:
        if negated:
            raise bad_request(f"unable to parse requirement: {term!r}")
        allowed = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if negated:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def label_selector(text: str | None) -> Predicate:
    if not text or not text.strip():
        return lambda obj: True
    terms = [_label_term(t) for t in _split_terms(text)]

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def labels_match(labels: dict[str, str] | None, wanted: dict[str, str] | None) -> bool:
    have = labels or {}
    return all(have.get(k) == v for k, v in (wanted or {}).items())


def _field(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_selector(text: str | None) -> Predicate:
    if not text or not text.strip():
        return lambda obj: True
    terms: list[Predicate] = []
    for term in _split_terms(text):
        match = _EQ_RE.match(term)
        if not match:
            raise bad_request(f"invalid selector: {text!r}; can't understand {term!r}")
        path, op, value = match.groups()
        if op == "!=":
            terms.append(lambda obj, p=path, v=value: _field(obj, p) != v)
        else:
            terms.append(lambda obj, p=path, v=value: _field(obj, p) == v)
    return lambda obj: all(term(obj) for term in terms)


def combine(*predicates: Predicate) -> Predicate:
    return lambda obj: all(p(obj) for p in predicates)
