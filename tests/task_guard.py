"""A test's work ends with the test: tasks still running after its app closed are named.

Without this, one task that survives its test (for example one waiting, after it was
cancelled, on something that will never answer) holds pytest-asyncio's event loop at close
for ever: the whole run hangs with no clue. Here such a task gets five seconds, is cancelled,
gets five more, and is then written (name and stack) to `test-artifacts/stuck-tasks.txt`
and broken out of its wait, and the test fails naming it.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

REPORT = Path(__file__).resolve().parents[1] / "test-artifacts" / "stuck-tasks.txt"


def _describe(task: asyncio.Task[object]) -> str:
    buffer = io.StringIO()
    buffer.write(f"{task.get_name()}: {task!r}\n")
    task.print_stack(file=buffer)
    buffer.write(f"  waiting on: {getattr(task, '_fut_waiter', None)!r}\n")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
async def _no_task_left_behind(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail a test whose tasks do not end within seconds of its teardown."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t not in before and t is not current]
    if not left:
        return
    _, pending = await asyncio.wait(left, timeout=5)
    for task in pending:
        task.cancel()
    if pending:
        _, pending = await asyncio.wait(pending, timeout=5)
    if not pending:
        return
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a", encoding="utf-8") as report:
        report.write(f"== {request.node.nodeid}\n")
        for task in pending:
            report.write(_describe(task))
    for task in pending:
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(RuntimeError("abandoned at the end of its test"))
    await asyncio.wait(pending, timeout=5)
    pytest.fail(f"{len(pending)} task(s) outlived the test; see {REPORT.name}")
