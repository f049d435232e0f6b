"""Match rules route each pushed document to one webhook binding; discriminators generate them.

A rule looks at one thing: the request URL (``UrlMatch``), a header (``HeaderMatch``) or a value
in the document (``BodyMatch``). The server tries rules most specific first (``sort_key``), so
a request matching both ``/orders/{id}`` and ``*`` goes to the order binding.

aiohttp is only imported for type checking: resource configs embed match rules, and every
connector imports those, including ones that never start a webhook server.
"""

from __future__ import annotations

import abc
import functools
import re
from collections.abc import Sequence
from logging import Logger
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "BodyDiscriminator",
    "BodyMatch",
    "CollectionDiscriminatorSpec",
    "CollectionMatchingSpec",
    "Discriminator",
    "HeaderDiscriminator",
    "HeaderMatch",
    "InvalidUrlPatternError",
    "MatchRule",
    "UrlDiscriminator",
    "UrlMatch",
]

WILDCARD = "*"
"""The URL pattern that matches every request path (the catch-all binding)."""

_BODY_KEY_REGEX = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"

# URL pattern syntax, as aiohttp routes spell it: `{name}` matches one path segment and
# `{name:regex}` matches the regex (which may span segments); everything else is literal.
_PLACEHOLDER = re.compile(r"(\{[_a-zA-Z][^{}]*(?:\{[^{}]*\}[^{}]*)*\})")
_PLAIN_PARAM = re.compile(r"\{(?P<name>[_a-zA-Z][_a-zA-Z0-9]*)\}")
_REGEX_PARAM = re.compile(r"\{(?P<name>[_a-zA-Z][_a-zA-Z0-9]*):(?P<regex>.+)\}")
_SEGMENT = r"[^{}/]+"


class InvalidUrlPatternError(ValueError):
    """A URL match pattern that cannot be compiled (raised while validating a rule)."""


@functools.lru_cache(maxsize=1024)
def _compile_url_pattern(pattern: str) -> re.Pattern[str]:
    # Cached: rules are immutable and checked for every pushed document.
    if not pattern.startswith("/"):
        raise InvalidUrlPatternError(f"Invalid URL pattern {pattern!r}: it must start with '/'")
    regex = ""
    for part in _PLACEHOLDER.split(pattern):
        if plain := _PLAIN_PARAM.fullmatch(part):
            regex += f"(?P<{plain['name']}>{_SEGMENT})"
        elif custom := _REGEX_PARAM.fullmatch(part):
            regex += f"(?P<{custom['name']}>{custom['regex']})"
        elif "{" in part or "}" in part:
            raise InvalidUrlPatternError(f"Invalid URL pattern {pattern!r}: bad placeholder in {part!r}")
        else:
            regex += re.escape(part)
    try:
        return re.compile(regex)
    except re.error as exc:
        raise InvalidUrlPatternError(f"Invalid URL pattern {pattern!r}: {exc}") from None


def _is_placeholder_segment(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _segments(pattern: str) -> list[str]:
    return pattern.strip("/").split("/")


# ------------------------------------------------------------------------------------------------
# Match rules (the `match_rule` of a WebhookResourceConfig)
# ------------------------------------------------------------------------------------------------


# Models whose JSON schema a connector publishes carry comments, not docstrings: pydantic would
# emit a docstring as the schema's "description", which the reference kit's schemas do not have.
class MatchRule(abc.ABC, BaseModel, frozen=True):
    # Decides whether a pushed document belongs to one binding.

    value: str

    @property
    @abc.abstractmethod
    def display_name(self) -> str:
        """Suffix of generated resource names (``"{spec name}_{display_name}"``)."""

    @abc.abstractmethod
    def list_compatibility_errors(self, other: CollectionMatchingSpec) -> str | None:
        """Why this rule and ``other`` cannot be bound together (they would claim the same
        requests with equal priority), or None."""

    @abc.abstractmethod
    async def matches(
        self, req: web.Request, failure_log: Logger, raw_doc: dict[str, Any] | None = None
    ) -> bool:
        """Whether the document ``raw_doc`` of request ``req`` belongs to this rule's binding.
        Reasons for not matching are logged at DEBUG on ``failure_log``."""

    @property
    @abc.abstractmethod
    def sort_key(self) -> tuple[int, int]:
        """Priority: rules are tried from the highest key to the lowest."""


class UrlMatch(MatchRule, frozen=True):
    # Matches the request path against a pattern such as /orders/{id} ({id} is one path
    # segment, {rest:.*} a regular expression), or every path for *.

    type: Literal["url"] = "url"

    @model_validator(mode="after")
    def _check_pattern(self) -> UrlMatch:
        if self.value != WILDCARD:
            _compile_url_pattern(self.value)
        return self

    @property
    def display_name(self) -> str:
        if self.value == WILDCARD:
            return "all"
        return re.sub("[^a-zA-Z0-9]+", "_", self.value).strip("_")

    def match_path(self, path: str) -> dict[str, str] | None:
        """The path parameters when ``path`` matches (empty for ``*`` and literal patterns),
        else None."""
        if self.value == WILDCARD:
            return {}
        found = _compile_url_pattern(self.value).fullmatch(path)
        return None if found is None else found.groupdict()

    def list_compatibility_errors(self, other: CollectionMatchingSpec) -> str | None:
        if not isinstance(other, UrlMatch):
            return None
        if self.value == WILDCARD and other.value == WILDCARD:
            return "The '*' wildcard can only be used in one UrlMatch definition"
        if self.value == other.value:
            return f"Only one UrlMatch can claim the {self.value!r} discriminator value"
        if WILDCARD in (self.value, other.value):
            return None

        # `/a/{x}/c` and `/a/b/{y}` both match `/a/b/c`, and neither is tried first. Overlap is
        # fine when one pattern is at least as literal in every segment (it is tried first).
        mine, theirs = _segments(self.value), _segments(other.value)
        if len(mine) != len(theirs):
            return None
        mine_more_literal = theirs_more_literal = False
        for a, b in zip(mine, theirs, strict=True):
            a_param, b_param = _is_placeholder_segment(a), _is_placeholder_segment(b)
            if not a_param and not b_param:
                if a != b:
                    return None
            elif a_param and not b_param:
                theirs_more_literal = True
            elif b_param and not a_param:
                mine_more_literal = True
        if mine_more_literal != theirs_more_literal:
            return None
        return f"URL patterns '{self.value}' and '{other.value}' match the same URLs"

    async def matches(
        self, req: web.Request, failure_log: Logger, raw_doc: dict[str, Any] | None = None
    ) -> bool:
        if self.match_path(req.path) is not None:
            return True
        failure_log.debug("URL path did not match", {"path": req.path, "match_value": self.value})
        return False

    @property
    def sort_key(self) -> tuple[int, int]:
        if self.value == WILDCARD:
            return (0, -1)
        return (0, sum(1 for s in _segments(self.value) if not _is_placeholder_segment(s)))


class _KeyValueMatch(MatchRule, frozen=True):
    key: str

    @property
    def display_name(self) -> str:
        return self.value

    def list_compatibility_errors(self, other: CollectionMatchingSpec) -> str | None:
        if type(other) is not type(self) or not isinstance(other, _KeyValueMatch):
            return None
        if self.key == other.key and self.value == other.value:
            return (
                f"Only one {type(self).__name__}(key={self.key!r}) "
                f"can claim the {self.value!r} discriminator value"
            )
        return None


class HeaderMatch(_KeyValueMatch, frozen=True):
    # Matches requests whose header named key (case-insensitive) equals value.

    type: Literal["header"] = "header"

    async def matches(
        self, req: web.Request, failure_log: Logger, raw_doc: dict[str, Any] | None = None
    ) -> bool:
        actual = req.headers.get(self.key)
        if actual is None:
            failure_log.debug("Header not present on request", {"header": self.key})
            return False
        if actual != self.value:
            failure_log.debug(
                "Header value did not match",
                {"header": self.key, "actual": actual, "match_value": self.value},
            )
            return False
        return True

    @property
    def sort_key(self) -> tuple[int, int]:
        return (2, 0)


class BodyMatch(_KeyValueMatch, frozen=True):
    # Matches documents whose value at the dot path key (e.g. event.type), as a string,
    # equals value.

    type: Literal["body"] = "body"
    key: str = Field(pattern=_BODY_KEY_REGEX)

    async def matches(
        self, req: web.Request, failure_log: Logger, raw_doc: dict[str, Any] | None = None
    ) -> bool:
        if raw_doc is None:
            parsed = await req.json()
            if isinstance(parsed, list):
                raise ValueError("BodyMatch requires raw_doc when the request contains multiple documents")
            if not isinstance(parsed, dict):
                raise ValueError(f"Invalid document type: {type(parsed)}")
            raw_doc = parsed

        node: dict[str, Any] = raw_doc
        *parents, leaf = self.key.split(".")
        for segment in parents:
            nested = node.get(segment)
            if not isinstance(nested, dict):
                failure_log.debug(
                    "Body path segment missing or not an object", {"key": self.key, "segment": segment}
                )
                return False
            node = nested
        actual = node.get(leaf)
        if actual is None:
            failure_log.debug("Body key not present", {"key": self.key})
            return False
        if str(actual) != self.value:
            failure_log.debug(
                "Body value did not match",
                {"key": self.key, "actual": str(actual), "match_value": self.value},
            )
            return False
        return True

    @property
    def sort_key(self) -> tuple[int, int]:
        return (1, 0)


CollectionMatchingSpec = UrlMatch | HeaderMatch | BodyMatch
"""Any match rule. Fields of this type pass ``discriminator="type"`` to ``Field``."""


# ------------------------------------------------------------------------------------------------
# Discriminators: one match rule (and so one binding) per known value
# ------------------------------------------------------------------------------------------------


class Discriminator(abc.ABC, BaseModel, frozen=True):
    # Generates one match rule per known value of what tells documents apart.

    known_values: set[str]

    @abc.abstractmethod
    def for_value(self, value: str) -> CollectionMatchingSpec:
        """The rule claiming ``value``."""

    def create_match_rules(self) -> Sequence[CollectionMatchingSpec]:
        """One rule per known value, in sorted order so discovery output is stable (a set's
        iteration order changes from one process to the next)."""
        return [self.for_value(value) for value in sorted(self.known_values)]


class UrlDiscriminator(Discriminator, frozen=True):
    # Routes by URL pattern; without known values, everything goes to one catch-all binding.

    type: Literal["url"] = "url"
    known_values: set[str] = Field(default=set())  # pydantic copies it per instance

    @field_validator("known_values")
    @classmethod
    def _check_patterns(cls, values: set[str]) -> set[str]:
        for value in values:
            if value != WILDCARD:
                _compile_url_pattern(value)
        return values

    def for_value(self, value: str) -> UrlMatch:
        return UrlMatch(type="url", value=value)

    def create_match_rules(self) -> Sequence[CollectionMatchingSpec]:
        if not self.known_values:
            return [self.for_value(WILDCARD)]
        return super().create_match_rules()


class HeaderDiscriminator(Discriminator, frozen=True):
    # Routes by the value of the header named key.

    type: Literal["header"] = "header"
    key: str
    known_values: set[str] = Field(min_length=1)

    def for_value(self, value: str) -> HeaderMatch:
        return HeaderMatch(type="header", key=self.key, value=value)


class BodyDiscriminator(Discriminator, frozen=True):
    # Routes by the value at the dot path key of each document.

    type: Literal["body"] = "body"
    key: str
    known_values: set[str] = Field(min_length=1)

    def for_value(self, value: str) -> BodyMatch:
        return BodyMatch(type="body", key=self.key, value=value)


CollectionDiscriminatorSpec = UrlDiscriminator | HeaderDiscriminator | BodyDiscriminator
"""Any discriminator. Fields of this type pass ``discriminator="type"`` to ``Field``."""
