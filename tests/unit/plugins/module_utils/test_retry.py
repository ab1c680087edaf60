# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one retry, backoff and polling helper."""

from __future__ import annotations

import email.utils

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange, _graph
from ansible_collections.exchange.hybrid.plugins.module_utils._retry import Backoff, Retry, parse_retry_after, poll, retry


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_backoff_doubles_up_to_its_cap():
    assert [Backoff(first=1.0, cap=10.0).delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_jitter_stays_in_its_range():
    ratio = Backoff(first=8.0, cap=8.0, jitter_ratio=0.5)
    seconds = Backoff(first=2.0, cap=2.0, jitter_seconds=1.0)
    for _attempt in range(200):
        assert 4.0 <= ratio.delay(1) <= 8.0
        assert 2.0 <= seconds.delay(1) <= 3.0


def test_attempts_limit_counts_every_attempt():
    clock = FakeClock()
    policy = Retry(Backoff(), attempts=3, sleep=clock.sleep)
    assert policy.wait() and policy.wait() and not policy.wait()
    assert clock.slept == [1.0, 2.0] and policy.failures == 3


def test_wait_limit_refuses_a_wait_that_would_exceed_it():
    clock = FakeClock()
    policy = Retry(Backoff(first=1.0, cap=10.0), wait_limit=60.0, sleep=clock.sleep)
    while policy.wait():
        pass
    # The documented replication schedule: 1, 2, 4, 8, then 10 s, never more than 60 s in all.
    assert clock.slept == [1, 2, 4, 8, 10, 10, 10, 10] and policy.waited == 55


def test_server_delay_wins_over_the_backoff():
    clock = FakeClock()
    policy = Retry(Backoff(first=2.0), attempts=5, wait_limit=30.0, sleep=clock.sleep)
    assert policy.wait(server_delay=7.0)
    assert not policy.wait(server_delay=40.0)
    assert clock.slept == [7.0]


def test_deadline_by_the_clock():
    clock = FakeClock()
    policy = Retry(Backoff(first=4.0, cap=4.0), deadline=10.0, sleep=clock.sleep, clock=clock)
    assert policy.wait() and policy.wait()
    clock.now += 1.5  # the attempts themselves take time
    assert not policy.wait()
    assert clock.slept == [4.0, 4.0]


def test_retry_only_transient_and_reports_attempts():
    clock = FakeClock()
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("reset")
        return "ok"

    assert retry(flaky, lambda exc: True, Retry(Backoff(), attempts=5, sleep=clock.sleep)) == "ok"
    assert len(calls) == 3 and clock.slept == [1.0, 2.0]

    def broken():
        raise ValueError("final")

    with pytest.raises(ValueError) as info:
        retry(broken, lambda exc: False, Retry(Backoff(), attempts=5, sleep=clock.sleep))
    assert info.value.attempts == 1
    with pytest.raises(ValueError) as info:
        retry(broken, lambda exc: True, Retry(Backoff(), attempts=2, sleep=clock.sleep))
    assert info.value.attempts == 2


def test_poll_until_the_condition_holds_or_the_timeout():
    clock = FakeClock()
    answers = iter([False, False, True])
    assert poll(lambda: next(answers), timeout=30, interval=5, sleep=clock.sleep, clock=clock)
    assert clock.slept == [5, 5]

    clock = FakeClock()
    checks = []
    assert not poll(lambda: checks.append(1) or False, timeout=12, interval=5, sleep=clock.sleep, clock=clock)
    # At 0, 5 and 10 s; a check at 15 s would start after the timeout.
    assert len(checks) == 3 and clock.slept == [5, 5]


def test_poll_looks_up_time_at_call_time(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr("time.monotonic", clock)
    monkeypatch.setattr("time.sleep", clock.sleep)
    assert not poll(lambda: False, timeout=2, interval=1)
    assert clock.slept == [1, 1]


def test_retry_after_forms():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 12 ") == 12.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    later = email.utils.formatdate(1030.0, usegmt=True)
    assert parse_retry_after(later, clock=lambda: 1000.0) == 30.0
    assert parse_retry_after(later, clock=lambda: 2000.0) == 0.0


def test_the_clients_keep_their_documented_policies():
    # PSRP: 5 attempts, 1 s doubling to at most 15 s, times 0.5-1.0.
    assert _exchange.MAX_ATTEMPTS == 5
    assert (_exchange.BACKOFF.first, _exchange.BACKOFF.cap, _exchange.BACKOFF.jitter_ratio) == (1.0, 15.0, 0.5)
    # Graph: replication 1, 2, 4, 8, then 10 s; throttling 2, 4, 8 ... 60 s plus up to 1 s; GET reconnects 2, 4, 8 s.
    assert [_graph.REPLICATION_BACKOFF.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert [_graph.CONNECTION_BACKOFF.delay(n) for n in range(1, 4)] == [2, 4, 8]
    assert _graph.CONNECTION_ATTEMPTS == 4
    assert all(2 ** n <= _graph.THROTTLING_BACKOFF.delay(n) <= 2 ** n + 1 for n in range(1, 6))
    assert [_graph.TOKEN_BACKOFF.delay(n) for n in (1, 2)] == [5, 10] and _graph.TOKEN_ATTEMPTS == 3
