"""Group commit (jiedao/core/groupcommit.py): concurrent submitters share one ``store`` call,
each gets its own result or its own error, and nobody is left waiting."""

from __future__ import annotations

import threading
import time

import pytest

from jiedao.core.groupcommit import GroupCommit


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Scenario:
    """Item 0 is submitted first and its store call is held until the others have queued."""

    def __init__(self, n: int, *, max_batch: int = 64, bad: set[int] = frozenset()):
        self.release = threading.Event()
        self.calls: list[tuple[str, list[int]]] = []
        self.bad = bad
        self.commit = GroupCommit(self.store, max_batch=max_batch)
        self.results: dict[int, object] = {}
        self.n = n

    def store(self, items):
        self.calls.append((threading.current_thread().name, list(items)))
        if len(self.calls) == 1:
            assert self.release.wait(5)
        if self.bad & set(items):
            raise ValueError(f"bad item in {sorted(items)}")
        return [f"stored {i}" for i in items]

    def submit(self, i: int) -> None:
        try:
            self.results[i] = self.commit.submit(i)
        except ValueError as error:
            self.results[i] = error

    def run(self) -> None:
        threads = [threading.Thread(target=self.submit, args=(i,), name=f"t{i}") for i in range(self.n)]
        threads[0].start()
        wait_until(lambda: len(self.calls) == 1)
        for i, thread in enumerate(threads[1:], start=1):
            thread.start()
            wait_until(lambda i=i: len(self.commit._queue) == i)  # queued one after another, in order
        self.release.set()
        for thread in threads:
            thread.join(timeout=10)
        assert not any(thread.is_alive() for thread in threads), "a submitter hung"


def test_threads_that_arrive_during_a_store_share_the_next_one():
    scenario = Scenario(7)
    scenario.run()
    assert scenario.results == {i: f"stored {i}" for i in range(7)}
    # t0 stored its own item alone, then handed the lead to the oldest waiting thread, t1,
    # which stored all six queued items in one call.
    assert scenario.calls == [("t0", [0]), ("t1", [1, 2, 3, 4, 5, 6])]
    assert (scenario.commit.batches, scenario.commit.items) == (2, 7)
    assert not scenario.commit._leading and not scenario.commit._queue


def test_batches_are_capped_and_the_leader_serves_until_its_own_item_is_stored():
    scenario = Scenario(7, max_batch=4)
    scenario.run()
    assert scenario.results == {i: f"stored {i}" for i in range(7)}
    assert scenario.calls == [("t0", [0]), ("t1", [1, 2, 3, 4]), ("t5", [5, 6])]


def test_a_bad_item_fails_only_its_own_submitter():
    scenario = Scenario(5, bad={3})
    scenario.run()
    assert isinstance(scenario.results[3], ValueError)
    assert {i: r for i, r in scenario.results.items() if i != 3} == {
        0: "stored 0", 1: "stored 1", 2: "stored 2", 4: "stored 4"}
    # The shared call failed as a whole; each item was then stored on its own.
    assert [items for _name, items in scenario.calls] == [[0], [1, 2, 3, 4], [1], [2], [3], [4]]


def test_a_lone_submitter_stores_at_once():
    commit = GroupCommit(lambda items: [i + 1 for i in items])
    assert [commit.submit(i) for i in range(3)] == [1, 2, 3]
    assert commit.batches == 3


def test_a_lone_failure_reaches_its_submitter():
    def store(items):
        raise KeyError("nope")

    commit = GroupCommit(store)
    with pytest.raises(KeyError):
        commit.submit(1)
    assert not commit._leading  # the next submitter can lead
    with pytest.raises(KeyError):
        commit.submit(2)
