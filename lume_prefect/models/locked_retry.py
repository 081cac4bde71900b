"""A Prefect API's "database is locked" 503 retried after tens of milliseconds, below Prefect's
own retries.

On a SQLite API (the embedded server, a small ``prefect server start``) a write races the
server's own writes (the previous run's events and task-run states) and is answered 503: the
server's answer to a retryable database error. Prefect's client (``PrefectHttpxSyncClient
._send_with_retry``) then sleeps ``2 ** attempt`` seconds (2 s, 4 s ...): the base is fixed in
its code; ``PREFECT_CLIENT_MAX_RETRIES``, ``PREFECT_CLIENT_RETRY_JITTER_FACTOR`` and
``PREFECT_CLIENT_RETRY_EXTRA_CODES`` change how often and which codes, not how soon. Back-to-back
runs paid the 2 s nearly every time, for a lock held a few milliseconds.

So the client's transport (what ``httpx.Client.send`` calls with the request Prefect's client
has finished: CSRF token, version and attribution headers) is wrapped: that answer, and only
that one, is sent again after 20, 50, 100, 200, 400 ms; if the last is still locked, it goes up
to Prefect's retries as before. Every request made on the client gets it: the flow, the flow
run and the tracking task run inserts, the states, the task runs of the flow.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

LOCKED_RETRY_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4)
# Prefect's server's body for an error its clients may retry (``custom_internal_exception_handler``)
_RETRYABLE_BODY = {"exception_message": "Service Unavailable"}
_install_lock = threading.Lock()


def _buffered(response: httpx.Response) -> httpx.Response:
    """``response`` with its body read from the connection (a few bytes) and kept: it can be
    looked at here and still be read, bound and closed by ``httpx.Client`` as if untouched."""
    raw = b"".join(response.stream)  # as sent (still encoded, if it was)
    response.close()
    return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(raw), extensions=response.extensions)


def is_locked_answer(response: httpx.Response) -> bool:
    """Whether the buffered ``response`` is the Prefect server's 503 for a retryable database
    error, without a wait the server asked for (``Retry-After``, maintenance): those are
    Prefect's to honour."""
    if response.status_code != 503 or "Retry-After" in response.headers or "Prefect-Maintenance" in response.headers:
        return False
    look = httpx.Response(503, headers=response.headers, stream=response.stream)
    try:
        return json.loads(look.read()) == _RETRYABLE_BODY
    except ValueError:
        return False


class LockedRetryTransport(httpx.BaseTransport):
    """``transport``, with the Prefect server's retryable 503 sent again after tens of ms."""

    def __init__(self, transport: httpx.BaseTransport):
        self.transport = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.transport.handle_request(request)
        if not isinstance(request.stream, httpx.ByteStream):
            return response  # a streamed body cannot be sent twice (Prefect's API requests are bytes)
        for delay in LOCKED_RETRY_DELAYS:
            if response.status_code != 503:
                return response
            response = _buffered(response)
            if not is_locked_answer(response):
                return response
            time.sleep(delay)
            response = self.transport.handle_request(request)
        return response

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> LockedRetryTransport:
        self.transport.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.transport.__exit__(*exc_info)


def retry_locked_quickly(client: Any) -> None:
    """Wrap the transports of the Prefect sync ``client`` (``SyncPrefectClient``) once. The
    client may be a parent flow run's: its own requests get the quick retry too, for the rest of
    its life (they race the same lock)."""
    http = client._client  # Prefect's httpx client; its transport is all it lets us choose
    with _install_lock:
        if not isinstance(http._transport, LockedRetryTransport):
            http._transport = LockedRetryTransport(http._transport)
        for pattern, transport in list(http._mounts.items()):  # proxies from the environment
            if transport is not None and not isinstance(transport, LockedRetryTransport):
                http._mounts[pattern] = LockedRetryTransport(transport)
