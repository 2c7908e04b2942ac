"""Generated demo datasets: arithmetic word problems (gsm8k-style) and multiple choice (mmlu-style).

Produced by code with fixed seeds, so every machine writes byte-identical files; their sha256 is
recorded here and checked by a test. Rows:
    arithmetic:      {"question": "...", "answer": "<working>\\n#### <number>"}
    multiple choice: {"question": "...", "A": "..", "B": "..", "C": "..", "D": "..", "answer": "B"}
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAMES = ["Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
ITEMS = ["apples", "books", "coins", "pens", "cards", "shells", "stamps", "marbles", "rocks"]


def arithmetic(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        a, b, c = rng.randint(3, 40), rng.randint(2, 30), rng.randint(2, 9)
        name, item = NAMES[index % len(NAMES)], ITEMS[rng.randrange(len(ITEMS))]
        question = (
            f"Problem {index + 1}: {name} has {a} {item}. {name} buys {b} more {item} and then "
            f"gives away {c} of them. How many {item} does {name} have now?"
        )
        answer = a + b - c
        rows.append({"question": question, "answer": f"{a}+{b}-{c}={answer}\n#### {answer}"})
    return rows


def multiple_choice(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        x, y = rng.randint(2, 15), rng.randint(2, 15)
        right = x * y
        wrong = sorted({right + d for d in (-3, -2, -1, 1, 2, 4, 5, 7)} - {right})
        options = [right, *rng.sample(wrong, 3)]
        rng.shuffle(options)
        row: dict[str, Any] = {"question": f"Question {index + 1}: what is {x} multiplied by {y}?"}
        row.update({letter: str(value) for letter, value in zip("ABCD", options, strict=True)})
        row["answer"] = "ABCD"[options.index(right)]
        rows.append(row)
    return rows


GENERATORS: dict[str, tuple[Callable[[int, int], list[dict[str, Any]]], int, int]] = {
    "demo_arith": (arithmetic, 20, 20261124),
    "demo_mcq": (multiple_choice, 20, 20261125),
    "demo_arith_tiny": (arithmetic, 5, 7),
}
"""name → (generator, rows, seed)."""

SHA256: dict[str, str] = {
    "demo_arith": "12919cb9f1431d7b9bd134b7f0f10d3330f654d47ede80c9ba92e67083b93e29",
    "demo_mcq": "705be99544fee5c98c5eec5053d3c1e1ebce37f67ae5896d326e9c67c248b591",
    "demo_arith_tiny": "f37ba8f5a8b3ad1194e62d5a3b96f425e62761e3efb0bd671ffb6083f1277a84",
}
"""Recorded digests of the files `write` produces (checked by a test on every machine)."""


def render(name: str) -> bytes:
    generator, count, seed = GENERATORS[name]
    return "".join(
        json.dumps(row, sort_keys=True) + "\n" for row in generator(count, seed)
    ).encode()


def write(directory: Path, name: str) -> Path:
    """Write `<directory>/<name>.jsonl` (idempotent) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.jsonl"
    content = render(name)
    if not path.exists() or path.read_bytes() != content:
        path.write_bytes(content)
    return path


def sha256(name: str) -> str:
    return hashlib.sha256(render(name)).hexdigest()
