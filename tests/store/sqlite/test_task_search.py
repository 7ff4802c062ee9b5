"""SQLite's task search: a search few tasks match is looked up by rowid from the trigram
index; a common one reads the batch's tasks in order. Both give LIKE's answer."""

from __future__ import annotations

import pytest

from batchrelay.store.base import TaskQuery
from batchrelay.store.sqlite import queries

from ..conformance_support import commit_all
from ..conftest import SQLiteStoreFactory
from ..factories import imm_task


@pytest.mark.parametrize("most", [queries.SEARCH_ROWIDS, 3])
async def test_a_rare_and_a_common_search_find_the_same_tasks(
    sqlite_store_factory: SQLiteStoreFactory, monkeypatch: pytest.MonkeyPatch, most: int
) -> None:
    monkeypatch.setattr(queries, "SEARCH_ROWIDS", most)  # 3: every search here is common
    store = await sqlite_store_factory()
    await commit_all(store, [
        imm_task(f"t{n:02d}", "failed" if n % 4 else "running", n, batch_key="B" if n % 5 else "C",
                 object_path=f"oss://in/{'deal' if n % 2 else 'memo'}-{n:02d}.docx")
        for n in range(40)
    ])  # fmt: skip

    async def found(search: str, status: str = "") -> list[str]:
        page = await store.list_tasks(TaskQuery(batch_key="B", search=search, status=status))
        return [task.task_id for task in page.items]

    odd = [f"t{n:02d}" for n in reversed(range(40)) if n % 2 and n % 5]
    assert await found("DEAL-") == odd
    assert await found("deal-", "running") == [t for t in odd if int(t[1:]) % 4 == 0]
    assert await found("memo-1") == ["t18", "t16", "t14", "t12"]
    assert await found("memo-3x") == []
