"""Which pydantic the process runs, decided once at import.

The kit is written for pydantic 2. The Airbyte-based connectors run under pydantic 1.10 (their
airbyte-cdk needs it), and for them only `estuary_cdk.shim_airbyte_cdk` and what it imports (the
process framework, the logger, `flow`, `pydantic_polyfill`, `requests_session_send_patch`) load
there. The capture engine and the materialize side import `estuary_cdk._pydantic2_only` first,
so that under pydantic 1 they say what is wrong rather than fail on some missing pydantic 2 name.
"""

from __future__ import annotations

import pydantic

__all__ = ["PYDANTIC_V1"]

PYDANTIC_V1 = pydantic.VERSION.startswith("1.")
