"""``--shard=K/N``: run the K-th of N disjoint parts of the collected tests.

Loaded by ``tests/conftest.py``; ``.ci/pytest-shards`` starts N pytest processes with
``--shard=1/N`` .. ``--shard=N/N`` so every ``make`` test target uses both cores of the CI
machine. Whole test files go to one shard (their module fixtures are built once). A file
weighs the recorded run times (``durations.json`` beside this module) of those of its tests
that this run selected, so a file whose time is mostly server-marked tests weighs little in
``make fast``; a test not recorded counts ``UNRECORDED_SECONDS_PER_TEST``. Files are dealt
longest first, each to the shard with the least time so far. The union of the shards is
exactly the unsharded run. ``--record-durations=FILE`` writes the run time of every test
that ran (setup, call and teardown), merged into FILE's existing entries; refresh the
shipped file with ``make durations``.
"""

from __future__ import annotations

import fcntl
import json
from collections import defaultdict
from pathlib import Path

import pytest

__all__ = [
    "deal",
    "file_weights",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
]

DURATIONS = Path(__file__).with_name("durations.json")
UNRECORDED_SECONDS_PER_TEST = 0.5


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shard",
        default=None,
        metavar="K/N",
        help="run only the K-th of N parts of the tests (whole files, dealt by run time)",
    )
    parser.addoption(
        "--record-durations",
        default=None,
        metavar="FILE",
        help="write each test's run time to FILE (JSON; merged with its entries)",
    )


def _parse(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if not (sep and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise pytest.UsageError(f"--shard must be K/N with 1 <= K <= N, got {text!r}")
    return int(index), int(count)


def deal(weights: dict[str, float], count: int) -> list[set[str]]:
    """Split files into ``count`` parts of near-equal total weight (longest first, each to
    the lightest part); ties by path, so every shard process computes the same split."""
    parts: list[set[str]] = [set() for _ in range(count)]
    loads = [0.0] * count
    for path in sorted(weights, key=lambda p: (-weights[p], p)):
        lightest = min(range(count), key=lambda k: (loads[k], k))
        parts[lightest].add(path)
        loads[lightest] += weights[path]
    return parts


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


def file_weights(tests: list[str], recorded: dict[str, float]) -> dict[str, float]:
    """Each file's weight in a run: the recorded times of the given (selected) tests of it,
    ``UNRECORDED_SECONDS_PER_TEST`` for each test without one."""
    weights: defaultdict[str, float] = defaultdict(float)
    for test in tests:
        weights[test.split("::")[0]] += recorded.get(test, UNRECORDED_SECONDS_PER_TEST)
    return dict(weights)


def _table(text: str) -> dict[str, float]:
    """Test id -> seconds, from a durations file's text (empty when it is not one)."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def _recorded() -> dict[str, float]:
    try:
        return _table(DURATIONS.read_text())
    except OSError:
        return {}


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselection: deal only what will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    text = config.getoption("--shard")
    if text is None:
        return
    index, count = _parse(text)
    mine = deal(file_weights([item.nodeid for item in items], _recorded()), count)[index - 1]
    keep = [item for item in items if _file(item) in mine]
    dropped = [item for item in items if _file(item) not in mine]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


class _Recorder:
    """Sums each test's setup, call and teardown times; writes them at the end."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] += report.duration

    def pytest_sessionfinish(self) -> None:
        self.target.touch()
        with self.target.open("r+") as file:  # shards finishing together merge in turn
            fcntl.flock(file, fcntl.LOCK_EX)
            merged = _table(file.read())
            merged.update({test: round(s, 3) for test, s in self.seconds.items()})
            file.seek(0)
            file.truncate()
            file.write(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("--record-durations")
    if target:
        config.pluginmanager.register(_Recorder(Path(target)), "mlrollout-durations")
