"""The opinionated capture engine: resources, their states, and the tasks that capture them.

Connectors import everything capture-related from here (including documents, credentials and
``Task``), exactly as with the reference kit. This module only re-exports: the implementation
lives in ``_engine`` (and tests import its private helpers from there).
"""

from logging import Logger
from typing import TypeVar

from .._credentials import (
    AccessToken,
    AuthorizationCodeFlowOAuth2Credentials,
    BaseOAuth2Credentials,
    BasicAuth,
    ClientCredentialsOAuth2Credentials,
    LongLivedClientCredentialsOAuth2Credentials,
    OAuth2Spec,
    OAuth2TokenFlowSpec,
    ResourceOwnerPasswordOAuth2Credentials,
    RotatingOAuth2Credentials,
)
from ..flow import CaptureBinding, ValidationError
from . import request
from ._engine.binding import open_binding
from ._engine.config import CRON_REGEX, BaseResourceConfig, ResourceConfig, ResourceConfigWithSchedule
from ._engine.cursors import (
    CURSOR_MARKER,
    LogCursor,
    PageCursor,
    Triggers,
    is_cursor_dict,
    make_cursor_dict,
    pop_cursor_marker,
)
from ._engine.fetch_fns import (
    FetchChangesFn,
    FetchPageFn,
    FetchSnapshotFn,
    RecurringFetchPageFn,
    is_recurring_fetch_page_fn,
)
from ._engine.opening import open
from ._engine.resources import (
    ReductionStrategy,
    Resource,
    SnapshotResource,
    discovered,
    resolve_bindings,
    validated,
)
from ._engine.state import BaseResourceState, ConnectorState, ResourceState
from ._engine.stop import scheduled_stop
from .document import AssociatedDocument, BaseDocument
from .task import Task
from .webhook.match import CollectionMatchingSpec, UrlMatch
from .webhook.resources import WebhookResourceConfig

_ResolvableBinding = TypeVar("_ResolvableBinding", bound=CaptureBinding | request.ValidateBinding)
"""A binding `resolve_bindings` takes (a compatibility name: see `estuary_cdk._compat`)."""

__all__ = [
    "CRON_REGEX",
    "CURSOR_MARKER",
    "AccessToken",
    "AssociatedDocument",
    "AuthorizationCodeFlowOAuth2Credentials",
    "BaseDocument",
    "BaseOAuth2Credentials",
    "BaseResourceConfig",
    "BaseResourceState",
    "BasicAuth",
    "CaptureBinding",
    "ClientCredentialsOAuth2Credentials",
    "CollectionMatchingSpec",
    "ConnectorState",
    "FetchChangesFn",
    "FetchPageFn",
    "FetchSnapshotFn",
    "LogCursor",
    "Logger",
    "LongLivedClientCredentialsOAuth2Credentials",
    "OAuth2Spec",
    "OAuth2TokenFlowSpec",
    "PageCursor",
    "RecurringFetchPageFn",
    "ReductionStrategy",
    "Resource",
    "ResourceConfig",
    "ResourceConfigWithSchedule",
    "ResourceOwnerPasswordOAuth2Credentials",
    "ResourceState",
    "RotatingOAuth2Credentials",
    "SnapshotResource",
    "Task",
    "Triggers",
    "UrlMatch",
    "ValidationError",
    "WebhookResourceConfig",
    "discovered",
    "is_cursor_dict",
    "is_recurring_fetch_page_fn",
    "make_cursor_dict",
    "open",
    "open_binding",
    "pop_cursor_marker",
    "resolve_bindings",
    "scheduled_stop",
    "validated",
]
