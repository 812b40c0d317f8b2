"""Fault injection: rate limits, forced errors, upload caps."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field


@dataclass
class RouteFault:
    """Answer `status`/`code` on matching requests, `times` times."""

    method: str
    pattern: re.Pattern[str]
    times: int
    status: int
    code: int
    message: str
    retry_after: float = 0.0
    is_global: bool = False
    hits: int = 0
    until: float | None = None  # monotonic deadline: armed until then, whatever ``times``

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to the request (path is relative to /api/v10)."""
        armed = self.times > 0 if self.until is None else time.monotonic() < self.until
        return armed and self.method in ("*", method) and self.pattern.search(path) is not None

    def wait(self) -> float:
        """The Retry-After to answer: what is left of the window, like Discord's buckets."""
        if self.until is None:
            return self.retry_after
        return max(0.001, self.until - time.monotonic())


@dataclass
class Faults:
    """The fault knobs of a double; change them any time during a test."""

    route_faults: list[RouteFault] = field(default_factory=list)
    upload_limit_bytes: int | None = None

    def rate_limit(
        self,
        method: str,
        path_regex: str,
        *,
        times: int = 1,
        retry_after: float = 0.05,
        is_global: bool = False,
    ) -> RouteFault:
        """Answer 429 with `retry_after` on matching requests `times` times."""
        fault = RouteFault(
            method.upper(),
            re.compile(path_regex),
            times,
            429,
            0,
            "You are being rate limited.",
            retry_after=retry_after,
            is_global=is_global,
        )
        self.route_faults.append(fault)
        return fault

    def rate_limit_for(self, method: str, path_regex: str, *, seconds: float) -> RouteFault:
        """Answer 429 on matching requests for ``seconds``, each saying how long is left."""
        fault = self.rate_limit(method, path_regex, times=0)
        fault.until = time.monotonic() + seconds
        return fault

    def fail(
        self,
        method: str,
        path_regex: str,
        *,
        status: int,
        code: int = 0,
        message: str = "Injected failure",
        times: int = 1,
    ) -> RouteFault:
        """Answer an arbitrary error on matching requests `times` times."""
        fault = RouteFault(method.upper(), re.compile(path_regex), times, status, code, message)
        self.route_faults.append(fault)
        return fault

    def reject_uploads_over(self, size: int | None) -> None:
        """Answer 413 / 40005 to any upload request whose files exceed `size` bytes in total."""
        self.upload_limit_bytes = size

    def take(self, method: str, path: str) -> RouteFault | None:
        """The first armed fault for a request, consuming one use of it."""
        for fault in self.route_faults:
            if fault.matches(method, path):
                if fault.until is None:
                    fault.times -= 1
                fault.hits += 1
                return fault
        return None
