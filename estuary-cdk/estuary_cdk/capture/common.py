"""The opinionated capture engine: resources, their states, and the tasks that capture them.

Connectors import everything capture-related from here (including documents, credentials and
``Task``), exactly as with the reference kit; the implementation lives in ``_engine``.
"""

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
    resolve_bindings,
    validated,
)
from ._engine.snapshot import binding_snapshot_task as _binding_snapshot_task
from ._engine.state import BaseResourceState, ConnectorState, ResourceState
from ._engine.stop import scheduled_stop
from .document import AssociatedDocument, BaseDocument
from .task import Task


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
    "ConnectorState",
    "FetchChangesFn",
    "FetchPageFn",
    "FetchSnapshotFn",
    "LogCursor",
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
    "ValidationError",
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
