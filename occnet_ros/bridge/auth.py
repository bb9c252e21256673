"""Token checks of the Unity bridge's HELLO (asyncio; no ROS).

Tokens are compared in constant time; after a failure from a remote address, the next check from
it waits ``token_backoff_s``, doubling per failure up to ``token_backoff_max_s``. Checks from one
address are serialised from the first attempt (parallel connections do not guess faster); more
than ``max_token_waiters`` waiting handshakes from one address are refused; at most
``max_tracked_addresses`` addresses are remembered (the least recently failed one is forgotten).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection

from occnet_ros.bridge import protocol as p

log = logging.getLogger("occnet_ros.bridge.server")  # the server's logger: one place to look

Refuse = Callable[[ServerConnection, p.ErrorCode, str], Awaitable[None]]


@dataclass
class TokenFailures:
    """Failed tokens from one remote address: checks from it are serialised and delayed."""

    count: int = 0
    not_before: float = 0.0  # monotonic time before which no token from this address is checked
    waiting: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class TokenGate:
    """Checks HELLO tokens against ``settings.token`` (a BridgeSettings); counts into ``stats``
    (``bad_tokens``, ``token_throttled``); refuses a connection with ``refuse``."""

    def __init__(self, settings: Any, stats: dict[str, int], refuse: Refuse) -> None:
        self.settings = settings
        self.stats = stats
        self.refuse = refuse
        self.failures: OrderedDict[str, TokenFailures] = OrderedDict()  # remote address -> failures

    async def check(self, connection: ServerConnection, token: str) -> bool:
        """Constant-time comparison; after a failure from an address, the next check from it waits
        token_backoff_s, doubling per failure up to token_backoff_max_s (checks from one address
        are serialised, so parallel connections do not guess faster)."""
        address = str(connection.remote_address[0]) if connection.remote_address else "?"
        failures = self.failures.get(address)
        if failures is None:  # also the first burst from an address is checked one at a time
            failures = self.track(address)
        if failures.waiting >= self.settings.max_token_waiters:
            self.stats["token_throttled"] += 1
            await self.refuse(connection, p.ErrorCode.TOO_MANY_CLIENTS, "too many handshakes waiting after failed tokens")
            return False
        failures.waiting += 1
        try:
            await failures.lock.acquire()
        finally:
            failures.waiting -= 1
        try:
            await asyncio.sleep(max(0.0, failures.not_before - time.monotonic()))
            return await self.compare(connection, address, token)
        finally:
            failures.lock.release()

    def track(self, address: str) -> TokenFailures:
        """The record of ``address`` (new ones evict the least recently used beyond the bound)."""
        failures = self.failures.get(address)
        if failures is None:
            failures = self.failures[address] = TokenFailures()
            while len(self.failures) > self.settings.max_tracked_addresses:
                self.failures.popitem(last=False)
        self.failures.move_to_end(address)
        return failures

    async def compare(self, connection: ServerConnection, address: str, token: str) -> bool:
        if hmac.compare_digest(token.encode("utf-8", errors="replace"), self.settings.token.encode("utf-8")):
            self.failures.pop(address, None)
            return True
        self.record_failure(address)
        await self.refuse(connection, p.ErrorCode.BAD_TOKEN, "bad token")
        return False

    def record_failure(self, address: str) -> float:
        """Count a failed token from ``address``; returns the wait before its next check. At most
        max_tracked_addresses are remembered: the least recently failed one is forgotten first."""
        self.stats["bad_tokens"] += 1
        failures = self.track(address)
        failures.count += 1
        delay = min(self.settings.token_backoff_max_s, self.settings.token_backoff_s * 2 ** min(failures.count - 1, 30))
        failures.not_before = time.monotonic() + delay
        if failures.count == 1 or failures.count % 100 == 0:
            log.warning("%d failed tokens from %s; its next check waits %.2f s", failures.count, address, delay)
        return delay
