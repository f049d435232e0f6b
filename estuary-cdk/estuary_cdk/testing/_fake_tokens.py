"""Credentials for fake APIs: static tokens, OAuth2 refresh-token grants whose access tokens
expire on the fake's clock, and the scopes each one carries.

A connector's token handling is only proven against a server that expires tokens: a refresh
that comes too late shows up as a 401 in the middle of a long backfill, and a missing scope as
a 403 on one endpoint only. `FakeTokens` issues and checks tokens the way an OAuth2 provider
does (RFC 6749 token responses); the provider-specific error bodies are the fake API's.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from ._api_clock import ApiClock

__all__ = ["FakeTokens", "TokenCheck", "TokenProblem"]


class TokenProblem(Enum):
    """Why a request's credentials were refused."""

    MISSING = "missing"  # no Authorization header, or not a bearer token
    UNKNOWN = "unknown"  # never issued (a wrong token)
    EXPIRED = "expired"  # issued, but its lifetime is over on the fake's clock
    REVOKED = "revoked"  # refused once on purpose (`reject_next`)


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of checking a request's token: `problem` is None when it is valid; `scopes`
    are the token's; `expired_ms_ago` says by how much an expired token missed."""

    token: str | None
    problem: TokenProblem | None
    scopes: frozenset[str] = frozenset()
    expired_ms_ago: int = 0
    expires_at_ms: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def has_scope(self, *any_of: str) -> bool:
        """Whether the token carries at least one of `any_of` (an endpoint accepting several)."""
        return any(scope in self.scopes for scope in any_of)


@dataclass
class _Client:
    client_secret: str
    refresh_token: str
    scopes: frozenset[str]


@dataclass
class _Issued:
    scopes: frozenset[str]
    expires_at_ms: int | None  # None: never expires (a static token)


@dataclass
class FakeTokens:
    """Tokens a fake API accepts.

    * `add_static(token, scopes)`: a long-lived token (an API key, a private-app token).
    * `add_client(client_id, client_secret, refresh_token, scopes)`: an OAuth2 client whose
      refresh token `exchange` turns into access tokens living `expires_in` seconds on `clock`.
    * `check(authorization_header)`: a `TokenCheck` for one request.
    * `reject_next(n)`: the next `n` checks of valid tokens fail as revoked (a server that
      rejects a token it should still accept, once).

    `issued` counts access tokens handed out; `refused` counts checks by problem.
    """

    clock: ApiClock
    expires_in: float = 1800.0
    issued: int = 0
    refused: dict[TokenProblem, int] = field(default_factory=dict)
    _static: dict[str, frozenset[str]] = field(default_factory=dict)
    _clients: dict[str, _Client] = field(default_factory=dict)
    _tokens: dict[str, _Issued] = field(default_factory=dict)
    _reject: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def add_static(self, token: str, scopes: Iterable[str]) -> None:
        with self._lock:
            self._static[token] = frozenset(scopes)

    def add_client(
        self, client_id: str, client_secret: str, refresh_token: str, scopes: Iterable[str]
    ) -> None:
        with self._lock:
            self._clients[client_id] = _Client(client_secret, refresh_token, frozenset(scopes))

    def set_scopes(self, scopes: Iterable[str]) -> None:
        """Give every static token, client and issued token these scopes (a re-authorization
        that granted more, or fewer)."""
        granted = frozenset(scopes)
        with self._lock:
            self._static = dict.fromkeys(self._static, granted)
            for client in self._clients.values():
                client.scopes = granted
            for issued in self._tokens.values():
                issued.scopes = granted

    def reject_next(self, times: int = 1) -> None:
        with self._lock:
            self._reject += times

    def expire_all(self) -> None:
        """End the lifetime of every access token issued so far (not of static tokens)."""
        now = self.clock.now_ms()
        with self._lock:
            for issued in self._tokens.values():
                if issued.expires_at_ms is not None:
                    issued.expires_at_ms = min(issued.expires_at_ms, now)

    def exchange(self, form: Mapping[str, str]) -> tuple[int, dict[str, object]]:
        """Answer a token request (`grant_type=refresh_token`, or `authorization_code` with any
        code): the HTTP status and an RFC 6749 JSON body. The refresh token is returned
        unchanged (it does not rotate)."""
        grant = form.get("grant_type")
        if grant not in ("refresh_token", "authorization_code"):
            return 400, {"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r}"}
        with self._lock:
            client = self._clients.get(form.get("client_id", ""))
            if client is None or client.client_secret != form.get("client_secret"):
                return 400, {"error": "invalid_client", "error_description": "unknown client or wrong secret"}
            if grant == "refresh_token" and form.get("refresh_token") != client.refresh_token:
                return 400, {"error": "invalid_grant", "error_description": "refresh token is not valid"}
            token = f"fake-access-{next(self._serial)}-{secrets.token_hex(8)}"
            expires_at = self.clock.now_ms() + int(self.expires_in * 1000)
            self._tokens[token] = _Issued(client.scopes, expires_at)
            self.issued += 1
        body: dict[str, object] = {
            "access_token": token,
            "refresh_token": client.refresh_token,
            "expires_in": int(self.expires_in) if float(self.expires_in).is_integer() else self.expires_in,
            "token_type": "bearer",
        }
        return 200, body

    def check(self, authorization: str | None) -> TokenCheck:
        """Check the `Authorization` header of one request."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return self._refuse(TokenCheck(None, TokenProblem.MISSING))
        token = authorization[7:].strip()
        now = self.clock.now_ms()
        with self._lock:
            scopes = self._static.get(token)
            expires_at: int | None = None
            if scopes is None:
                issued = self._tokens.get(token)
                if issued is None:
                    return self._refuse_locked(TokenCheck(token, TokenProblem.UNKNOWN))
                scopes, expires_at = issued.scopes, issued.expires_at_ms
                if expires_at is not None and now >= expires_at:
                    return self._refuse_locked(
                        TokenCheck(token, TokenProblem.EXPIRED, scopes, now - expires_at, expires_at)
                    )
            if self._reject > 0:
                self._reject -= 1
                return self._refuse_locked(TokenCheck(token, TokenProblem.REVOKED, scopes))
        return TokenCheck(token, None, scopes, 0, expires_at)

    def _refuse(self, check: TokenCheck) -> TokenCheck:
        with self._lock:
            return self._refuse_locked(check)

    def _refuse_locked(self, check: TokenCheck) -> TokenCheck:
        assert check.problem is not None
        self.refused[check.problem] = self.refused.get(check.problem, 0) + 1
        return check
