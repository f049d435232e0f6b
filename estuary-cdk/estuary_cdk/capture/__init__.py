"""The capture side of the kit. `common` (the capture engine) is imported on first use, e.g.
`from estuary_cdk.capture import common`."""

from .. import _pydantic2_only  # noqa: F401 (first: under pydantic 1 it says this needs 2)
from . import request, response
from .base_capture_connector import BaseCaptureConnector
from .request import Request
from .response import Response
from .task import Task

__all__ = ["BaseCaptureConnector", "Request", "Response", "Task", "request", "response"]
