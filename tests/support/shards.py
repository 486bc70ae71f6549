"""``--shard=K/N``: run the K-th of N disjoint parts of the collected tests.

Loaded by ``tests/conftest.py``; ``.ci/pytest-shards`` starts N pytest processes with
``--shard=1/N`` .. ``--shard=N/N`` so ``make fast`` uses both cores of the CI machine. Whole
test files go to one shard (their module fixtures are built once), dealt round-robin in path
order; the union of the shards is exactly the unsharded run.
"""

from __future__ import annotations

import pytest

__all__ = ["pytest_addoption", "pytest_collection_modifyitems"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shard",
        default=None,
        metavar="K/N",
        help="run only the K-th of N parts of the tests (whole files, dealt round-robin)",
    )


def _parse(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if not (sep and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise pytest.UsageError(f"--shard must be K/N with 1 <= K <= N, got {text!r}")
    return int(index), int(count)


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselection: deal only what will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    text = config.getoption("--shard")
    if text is None:
        return
    index, count = _parse(text)
    files = sorted({item.nodeid.split("::")[0] for item in items})
    mine = {path for n, path in enumerate(files) if n % count == index - 1}
    keep = [item for item in items if item.nodeid.split("::")[0] in mine]
    dropped = [item for item in items if item.nodeid.split("::")[0] not in mine]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
