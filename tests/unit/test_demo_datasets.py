from __future__ import annotations

import hashlib
import json
from pathlib import Path

from budeval.demo import datasets


def test_generation_is_reproducible_byte_for_byte(tmp_path: Path) -> None:
    assert set(datasets.SHA256) == set(datasets.GENERATORS)
    for name, digest in datasets.SHA256.items():
        path = datasets.write(tmp_path, name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name


def test_rows_are_well_formed_and_answers_right(tmp_path: Path) -> None:
    arithmetic = [json.loads(line) for line in datasets.render("demo_arith").splitlines()]
    assert len(arithmetic) == 20 and len({row["question"] for row in arithmetic}) == 20
    for row in arithmetic:
        working, final = row["answer"].split("\n#### ")
        assert eval(working.split("=")[0]) == int(final)  # our own generated digits
    choices = [json.loads(line) for line in datasets.render("demo_mcq").splitlines()]
    for row in choices:
        x, y = (int(word) for word in row["question"].rstrip("?").split() if word.isdigit())
        assert int(row[row["answer"]]) == x * y
        assert len({row[letter] for letter in "ABCD"}) == 4
