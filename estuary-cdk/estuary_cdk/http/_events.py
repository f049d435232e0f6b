"""Emitting runtime events through CORE's `FlowLogger.event`, tolerating a plain Logger."""

from __future__ import annotations

import logging
from typing import Any


def status_event(log: logging.Logger, msg: str) -> None:
    """A `connectorStatus` event (a user-visible task status line)."""
    event = getattr(log, "event", None)
    if event is not None:
        event.status(msg)
    else:
        log.info(msg, extra={"eventType": "connectorStatus"})


def config_update_event(log: logging.Logger, msg: str, config: dict[str, Any]) -> None:
    """A `configUpdate` event asking the control plane to republish the task with `config`."""
    event = getattr(log, "event", None)
    if event is not None:
        event.config_update(msg, config)
    else:
        log.info(msg, extra={"eventType": "configUpdate", "config": config})
