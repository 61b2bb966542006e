"""How much one connection may send: frames per second (a token bucket; each op of an `ops` frame
counts as a frame), and how many refused
frames in a row before it is closed as abusive. Neither waits: the consumer asks before it
handles a frame, and turns a refusal into an error frame (or, past the streak's limit, a close
with `CloseCode.ABUSIVE`)."""

from __future__ import annotations

import time

ERRORS_IN_A_ROW_LIMIT = 100


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self) -> bool:
        return self.take_up_to(1) == 1

    def take_up_to(self, count: int) -> int:
        """Take up to `count` tokens; how many were taken (the first that many items pass)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        taken = min(count, int(self.tokens))
        self.tokens -= taken
        return taken


class ErrorsInARow:
    """Refused frames since the last accepted one; a client past the limit is not going to
    send anything good."""

    def __init__(self, limit: int = ERRORS_IN_A_ROW_LIMIT) -> None:
        self.limit = limit
        self.count = 0

    def reset(self) -> None:
        self.count = 0

    def exceeded(self) -> bool:
        """Count one more refused frame; True when that one reached the limit."""
        self.count += 1
        return self.count >= self.limit
