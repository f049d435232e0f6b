"""`RequestSpec`: one request, as a connector described it, built once and never changed.

The public `request*` methods take the reference kit's long positional signature; everything
after that point (sending, retrying, reading the body, error messages) works from this one
frozen value, so no stage re-derives the body or re-threads eleven parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Union

import orjson
from pydantic import BaseModel
from yarl import URL

from .._secrets import register_basic_credentials
from ._errors import Headers
from ._redact import scrub_url

if TYPE_CHECKING:
    import aiohttp

    Timeout = aiohttp.ClientTimeout | float | None
else:  # A forward reference: naming the class here would load aiohttp at import.
    Timeout = Union["aiohttp.ClientTimeout", float, None]


class ShouldRetryProtocol(Protocol):
    """Decides whether a 5xx response is retried (`attempt` starts at 1). Returning False fails
    the request at once with an `HTTPError`."""

    def __call__(self, status: int, headers: Headers, body: bytes, attempt: int) -> bool: ...


class _Fields(NamedTuple):
    url: str
    method: str
    params: Any
    json: Any
    form: Any
    with_token: bool
    headers: Mapping[str, str] | None
    should_retry: ShouldRetryProtocol | None
    timeout: Timeout
    data: bytes | None
    body: Any
    send_headers: Mapping[str, str]


class RequestSpec(_Fields):
    """What to send, immutable (a tuple). The fields up to `data` are the caller's arguments as
    given, in the reference kit's order (connectors that override `_request_stream` receive
    exactly those); `body` and `send_headers` are what goes on the wire, derived once at
    construction: a JSON body is encoded here, however many attempts the request takes.

    A tuple rather than a frozen dataclass: every request builds one, and a frozen dataclass's
    `__init__` (a `object.__setattr__` per field) costs three times as much."""

    __slots__ = ()

    def __new__(
        cls,
        url: str,
        method: str = "GET",
        params: Any = None,
        json: Any = None,
        form: Any = None,
        with_token: bool = True,
        headers: Mapping[str, str] | None = None,
        should_retry: ShouldRetryProtocol | None = None,
        timeout: Timeout = None,
        data: bytes | None = None,
    ) -> RequestSpec:
        send_headers = dict(headers) if headers else {}
        body: Any = data
        if json is not None:
            body = orjson.dumps(json, default=_json_default)
            if not any(k.lower() == "content-type" for k in send_headers):
                send_headers["Content-Type"] = "application/json"
        elif form is not None:
            body = form
        if "@" in url:
            _register_userinfo(url)
        fields = (
            url,
            method,
            params,
            json,
            form,
            with_token,
            headers,
            should_retry,
            timeout,
            data,
            body,
            send_headers,
        )
        return tuple.__new__(cls, fields)

    def reference_args(self) -> tuple[Any, ...]:
        """The arguments of `_request_stream` after `log`, in the reference kit's order."""
        return self[:9]

    def reference_kwargs(self) -> dict[str, Any]:
        """Keyword arguments beyond the reference signature: only passed when used, so that an
        override with the reference kit's exact signature keeps working."""
        return {} if self.data is None else {"data": self.data}

    def scrubbed_url(self) -> str:
        """The URL with its query, as it may be shown in logs and errors (secrets removed)."""
        return scrub_url(self.url, self.params)


def _register_userinfo(url: str) -> None:
    # aiohttp sends a URL's user-info as `Authorization: Basic base64(user:password)`: a server
    # that echoes its request headers into an error body must not reveal either form.
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return
    if parsed.password:
        register_basic_credentials(parsed.user or "", parsed.password)


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__} to JSON")
