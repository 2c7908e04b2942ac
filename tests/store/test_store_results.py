"""Scores and predictions: stored once per run, read back in order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from budeval.errors import NotFound, PermanentError
from budeval.results.models import ParsedResults, Prediction, Score
from budeval.store import Store


def _parsed(*metrics: str, predictions: int = 3) -> ParsedResults:
    return ParsedResults(
        engine="smoke",
        engine_version="1.0",
        scores=[
            Score(dataset="gsm8k", metric=metric, value=0.5 + i / 10, n_samples=predictions)
            for i, metric in enumerate(metrics)
        ],
        predictions=[
            Prediction(index=i, prompt=f"q{i}", prediction=f"a{i}", gold="a1", correct=i == 1)
            for i in range(predictions)
        ],
    )


def test_results_are_stored_once(create, store: Store, count_rows):
    create("e1", [("gsm8k", "r1")])
    assert store.store_results("e1", "r1", _parsed("accuracy", "f1")) == 2
    assert store.store_results("e1", "r1", _parsed("accuracy", "f1", "other")) == 0
    assert store.count_scores("e1") == 2
    assert count_rows("scores") == 2
    assert count_rows("predictions") == 3


def test_concurrent_stores_of_one_run_store_once(create, store: Store, count_rows):
    create("e1", [("gsm8k", "r1")])
    barrier = threading.Barrier(8)

    def store_once(_: int) -> int:
        barrier.wait()
        return store.store_results("e1", "r1", _parsed("accuracy"))

    with ThreadPoolExecutor(8) as pool:
        stored = list(pool.map(store_once, range(8)))
    assert sorted(stored) == [0] * 7 + [1]
    assert count_rows("scores") == 1
    assert count_rows("predictions") == 3


def test_scores_read_back_with_engine_and_run(create, store: Store):
    create("e1", [("gsm8k", "r1"), ("mmlu", "r2")])
    store.store_results("e1", "r2", _parsed("accuracy"))
    store.store_results("e1", "r1", _parsed("f1", "accuracy"))

    scores = store.get_scores("e1")

    assert [(s.run_id, s.metric) for s in scores] == [
        ("r1", "accuracy"),
        ("r1", "f1"),
        ("r2", "accuracy"),
    ]
    first = scores[1]
    assert (first.value, first.n_samples, first.engine, first.engine_version) == (
        0.5,
        3,
        "smoke",
        "1.0",
    )
    assert first.higher_is_better is True and first.stderr is None
    assert first.created_at.tzinfo is not None


def test_same_metric_of_two_datasets_in_one_run(create, store: Store):
    create("e1", [("mmlu", "r1")])
    parsed = ParsedResults(
        engine="smoke",
        engine_version="1",
        scores=[
            Score(dataset="mmlu_math", metric="accuracy", value=0.1),
            Score(dataset="mmlu_law", metric="accuracy", value=0.2),
        ],
    )
    assert store.store_results("e1", "r1", parsed) == 2


def test_a_metric_named_twice_is_refused(create, store: Store, count_rows):
    create("e1", [("gsm8k", "r1")])
    with pytest.raises(PermanentError, match="accuracy"):
        store.store_results("e1", "r1", _parsed("accuracy", "accuracy"))
    assert count_rows("scores") == 0


def test_results_for_a_run_of_another_evaluation_are_refused(create, store: Store):
    create("e1", [("gsm8k", "r1")])
    create("e2", [("gsm8k", "r2")])
    with pytest.raises(NotFound):
        store.store_results("e2", "r1", _parsed("accuracy"))
    with pytest.raises(NotFound):
        store.store_results("e1", "nope", _parsed("accuracy"))


def test_predictions_page_in_index_order(create, store: Store):
    create("e1", [("gsm8k", "r1")])
    store.store_results("e1", "r1", _parsed("accuracy", predictions=5))

    page = store.get_predictions("r1", limit=2, offset=1)

    assert [p.idx for p in page] == [1, 2]
    assert (page[0].prompt, page[0].prediction, page[0].gold, page[0].correct) == (
        "q1",
        "a1",
        "a1",
        True,
    )
    assert page[1].correct is False
    assert store.get_predictions("r1", limit=10, offset=5) == []
