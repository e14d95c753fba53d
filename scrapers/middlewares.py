"""Downloader middlewares of the catalog crawl."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater

logger = logging.getLogger(__name__)


def backoff_delay(
    retry_times: int, base: float, maximum: float, retry_after: float | None = None
) -> float:
    """Return the wait before retry number retry_times (1, 2...): base * 2**(n-1), capped.

    A server's Retry-After wins when it asks for longer, up to the same cap.
    """
    delay = base * 2 ** max(retry_times - 1, 0)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(0.0, min(delay, maximum))


def parse_retry_after(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Return the seconds a Retry-After header value (seconds or HTTP date) asks for, or None."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """RetryMiddleware that waits before handing back each retry: exponential backoff.

    Scrapy's RetryMiddleware reschedules at once, which hammers a server that answered
    429/5xx or timed out. Here retry n waits RETRY_BACKOFF_BASE * 2**(n-1) seconds (at most
    RETRY_BACKOFF_MAX, or longer if a Retry-After header asks for it, within the same cap).
    The wait happens inside the middleware chain: the connection slot is free meanwhile, and
    only the failed request waits; it still counts toward CONCURRENT_REQUESTS.
    """

    def __init__(self, settings):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)

    async def process_response(self, request: Request, response: Response, spider=None):
        """Return the response, or after the backoff delay a retry of the request."""
        result = super().process_response(request, response)
        if isinstance(result, Request):
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
            await self._wait(result, retry_after, f"HTTP {response.status}")
        return result

    async def process_exception(self, request: Request, exception: Exception, spider=None):
        """Return None (not retried), or after the backoff delay a retry of the request."""
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await self._wait(result, None, type(exception).__name__)
        return result

    async def _wait(self, retry: Request, retry_after: float | None, reason: str) -> None:
        attempt = retry.meta.get("retry_times", 1)
        delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, retry_after)
        retry.meta["retry_backoff_delay"] = delay
        self.crawler.stats.inc_value("retry/backoff_seconds", delay)
        logger.info("Retrying %s in %.2fs (retry %d, %s)", retry.url, delay, attempt, reason)
        if delay > 0:
            # Imported here: importing the reactor at module level could install the default one.
            from twisted.internet import reactor

            await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))
