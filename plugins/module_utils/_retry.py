# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one retry, backoff and polling helper of the collection (PSRP, Graph, the monitoring probe).

- ``Backoff``: the delay before the n-th retry, capped exponential with jitter;
- ``Retry``: one loop's budget (attempts, seconds slept, a deadline); ``wait()`` sleeps or says stop, and honours a
  delay the server gave (Retry-After);
- ``retry()``: run an action until it succeeds or its failure is not transient;
- ``poll()``: run a check until it holds or a timeout passes, at a fixed interval.

``sleep`` and ``clock`` are injectable; when not given, ``time.sleep`` and ``time.monotonic`` are looked up at
call time, so a test that patches them sees every wait.

PRIVATE to the collection: it can change at any time.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``n`` (1 for the first): ``min(cap, first * factor ** (n - 1))``, then jitter.

    ``jitter_ratio`` multiplies the delay by a random factor in [1 - jitter_ratio, 1] (spreads clients that failed
    together); ``jitter_seconds`` adds up to that many seconds.
    """

    first: float = 1.0
    cap: float = 15.0
    factor: float = 2.0
    jitter_ratio: float = 0.0
    jitter_seconds: float = 0.0

    def delay(self, attempt: int) -> float:
        delay = min(self.cap, self.first * self.factor ** (attempt - 1))
        if self.jitter_ratio:
            delay *= random.uniform(1.0 - self.jitter_ratio, 1.0)
        if self.jitter_seconds:
            delay += random.uniform(0.0, self.jitter_seconds)
        return delay


class Retry:
    """The budget of one retry loop. After each failed attempt call ``wait()``: it sleeps and returns True, or
    returns False when the next attempt is not allowed.

    ``attempts``: most attempts in all (None: no limit); ``wait_limit``: most seconds slept in all; ``deadline``:
    most seconds from this object's creation to the end of a wait (by ``clock``).
    """

    def __init__(
        self,
        backoff: Backoff,
        attempts: Optional[int] = None,
        wait_limit: Optional[float] = None,
        deadline: Optional[float] = None,
        sleep: Optional[Sleep] = None,
        clock: Optional[Clock] = None,
    ) -> None:
        self.backoff = backoff
        self.attempts = attempts
        self.wait_limit = wait_limit
        self._sleep = sleep
        self._clock = clock
        self._ends = None if deadline is None else self._now() + deadline
        self.failures = 0
        self.waited = 0.0

    def _now(self) -> float:
        return (self._clock or time.monotonic)()

    def wait(self, server_delay: Optional[float] = None) -> bool:
        """Count a failed attempt; sleep before the next one (``server_delay`` when the server named one)."""
        self.failures += 1
        if self.attempts is not None and self.failures >= self.attempts:
            return False
        delay = self.backoff.delay(self.failures) if server_delay is None else max(0.0, server_delay)
        if self.wait_limit is not None and self.waited + delay > self.wait_limit:
            return False
        if self._ends is not None and self._now() + delay > self._ends:
            return False
        (self._sleep or time.sleep)(delay)
        self.waited += delay
        return True


def retry(
    action: Callable[[], Any],
    transient: Callable[[BaseException], bool],
    policy: Retry,
) -> Any:
    """Run ``action`` until it succeeds, retrying failures ``transient`` accepts within ``policy``.

    The failure that ends the loop is raised with ``attempts`` set to the number of attempts made.
    """
    while True:
        try:
            return action()
        except Exception as exc:  # pylint: disable=broad-except
            if not transient(exc):
                exc.attempts = policy.failures + 1  # type: ignore[attr-defined]
                raise
            if not policy.wait():
                exc.attempts = policy.failures  # type: ignore[attr-defined]
                raise


def poll(
    check: Callable[[], bool],
    timeout: float,
    interval: float,
    sleep: Optional[Sleep] = None,
    clock: Optional[Clock] = None,
) -> bool:
    """Call ``check`` until it returns True (then True), or until the next call would start after ``timeout``
    seconds (then False). The first call is immediate, the others ``interval`` seconds apart."""
    now = clock or time.monotonic
    ends = now() + timeout
    while True:
        if check():
            return True
        if now() + interval > ends:
            return False
        (sleep or time.sleep)(interval)


def parse_retry_after(value: Optional[str], clock: Optional[Callable[[], float]] = None) -> Optional[float]:
    """Seconds to wait from an HTTP ``Retry-After`` header (delta-seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (clock or time.time)())
