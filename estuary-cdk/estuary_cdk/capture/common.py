"""The opinionated capture engine: resources, their states, and the tasks that capture them.

Connectors import everything capture-related from here (including documents, credentials and
``Task``), exactly as with the reference kit; the implementation lives in ``_engine``.
"""

from collections.abc import Sequence
from logging import Logger
from typing import Any, TypeVar

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
from ._engine.backfill import binding_backfill_task as _binding_backfill_task
from ._engine.binding import (
    _assert_tombstone_covers_key,
    _tombstone_discriminator_values,
    open_binding,
)
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
from ._engine.incremental import binding_incremental_task as _binding_incremental_task
from ._engine.opening import _datetime_cursors as _get_incremental_cursors
from ._engine.opening import open
from ._engine.resources import (
    ReductionStrategy,
    Resource,
    SnapshotResource,
    SourcedSchema,
    discovered,
    validated,
)
from ._engine.resources import resolve_bindings as _resolve_bindings
from ._engine.snapshot import binding_snapshot_task as _binding_snapshot_task
from ._engine.state import BaseResourceState, ConnectorState, ResourceState
from ._engine.stop import scheduled_stop
from .document import AssociatedDocument, BaseDocument
from .task import Task
from .webhook.match import CollectionMatchingSpec, UrlMatch
from .webhook.resources import WebhookResourceConfig, match_rule_conflicts

_Binding = TypeVar("_Binding")


def resolve_bindings(
    bindings: Sequence[_Binding],
    resources: Sequence[Resource[Any, Any, Any]],
    resource_term: str = "Resource",
) -> list[tuple[_Binding, Resource[Any, Any, Any]]]:
    """Pair every binding (of ``validate`` or ``open``) with the resource of the same path, in
    binding order. Webhook resources whose match rules would claim the same documents are
    reported too (first), all problems together in one ``ValidationError``."""
    conflicts = match_rule_conflicts(resources)
    try:
        resolved = _resolve_bindings(bindings, resources, resource_term)
    except ValidationError as exc:
        raise ValidationError([*conflicts, *exc.errors]) from None
    if conflicts:
        raise ValidationError(conflicts)
    return resolved


def _get_min_incremental_cursor(state: ResourceState) -> LogCursor | None:
    """The oldest datetime incremental cursor of ``state`` (across subtasks), if any."""
    cursors = _get_incremental_cursors(state)
    return min(cursors) if cursors else None


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
    "SourcedSchema",
    "Task",
    "Triggers",
    "UrlMatch",
    "ValidationError",
    "WebhookResourceConfig",
    "_assert_tombstone_covers_key",
    "_binding_backfill_task",
    "_binding_incremental_task",
    "_binding_snapshot_task",
    "_get_min_incremental_cursor",
    "_tombstone_discriminator_values",
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
