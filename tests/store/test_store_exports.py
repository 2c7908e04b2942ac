"""The package's public surface is exactly what `__all__` names."""

from __future__ import annotations

import budeval.store


def test_exported_members():
    exported = {
        name for name in dir(budeval.store) if not name.startswith("_") and name[0].isupper()
    }
    exported |= {"open_store", "upgrade"}
    assert set(budeval.store.__all__) == exported
    for name in budeval.store.__all__:
        assert getattr(budeval.store, name) is not None


def test_open_store_migrates_a_new_sqlite_database(tmp_path):
    with budeval.store.open_store(f"sqlite:///{tmp_path / 'new' / 'store.sqlite'}") as store:
        assert store.list_evaluations() == ([], 0)
        assert store.dialect == "sqlite"


def test_in_memory_sqlite_works_for_one_process():
    with budeval.store.open_store("sqlite://") as store:
        assert store.list_evaluations() == ([], 0)
