"""The materialize side of the kit: connectors that write collections into a destination.

A connector subclasses `BaseMaterializationConnector` (spec, validate, apply, open) and returns
a `Transactor` from `open`; the kit runs the transaction loop (`session.py`), decoding keys and
values from their packed tuples (`packed.py`). `estuary_cdk.materialize.sql` is the shared layer
for SQL destinations (dialects, type mapping, constraints, DDL, fenced checkpoints).
"""

from .. import _pydantic2_only  # noqa: F401 (first: under pydantic 1 it says this needs 2)
from . import request, response
from .base_materialization_connector import BaseMaterializationConnector
from .request import Request
from .session import MaterializeProtocolError, state_update
from .transactor import Loaded, Store, Transactor

__all__ = [
    "BaseMaterializationConnector",
    "Loaded",
    "MaterializeProtocolError",
    "Request",
    "Store",
    "Transactor",
    "request",
    "response",
    "state_update",
]
