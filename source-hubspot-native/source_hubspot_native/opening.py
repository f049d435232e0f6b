"""The `open` of a binding whose fetch functions are known when its resource is built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from estuary_cdk.capture import Task
from estuary_cdk.capture.common import CaptureBinding, ResourceState, open_binding

from .models import ResourceConfig

Open = Callable[[CaptureBinding[ResourceConfig], int, ResourceState, Task, list[Any]], None]


def opener(**fetch: Any) -> Open:
    """An `open` starting the binding with `fetch` (`fetch_page`, `fetch_changes`,
    `fetch_snapshot`: `open_binding`'s keywords)."""

    def open(
        binding: CaptureBinding[ResourceConfig],
        binding_index: int,
        state: ResourceState,
        task: Task,
        all_bindings: list[Any],
    ) -> None:
        open_binding(binding, binding_index, state, task, **fetch)

    return open
