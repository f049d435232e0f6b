"""Imported first by the parts of the kit that need pydantic 2 (`estuary_cdk.capture`,
`estuary_cdk.materialize`): under pydantic 1, where only the Airbyte shim runs, importing them
fails here with a message that says so (see `estuary_cdk._pydantic_major`)."""

from __future__ import annotations

import pydantic

from ._pydantic_major import PYDANTIC_V1

if PYDANTIC_V1:
    raise ImportError(
        f"this part of estuary_cdk needs pydantic 2 (this is pydantic {pydantic.VERSION}); under pydantic 1 "
        "only the Airbyte shim runs (estuary_cdk.shim_airbyte_cdk, for connectors built on airbyte-cdk)"
    )
