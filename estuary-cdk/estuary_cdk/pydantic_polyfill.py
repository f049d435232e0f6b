"""The pydantic-version shim connectors of the reference kit import first (`# Must be first.`).

Airbyte-based connectors (`estuary_cdk.shim_airbyte_cdk`) run under pydantic 1.10, which their
airbyte-cdk needs; every other connector runs under pydantic 2. This module names the major
version it found (`VERSION`, `"v1"` or `"v2"`) and exports `GenericModel`, the base class of a
generic model on both: pydantic v1's `pydantic.generics.GenericModel`, and on v2 plain
`BaseModel`, which is generic-capable there.

On pydantic v1 it also gives `pydantic.BaseModel` the three v2 methods code written for v2 calls
most (`model_dump_json`, `model_validate_json`, `model_json_schema`, each mapped to its v1
equivalent) and names `pydantic.AwareDatetime` (a plain `datetime` there), so such code imports
and runs unchanged. The kit itself does not rely on these patches: the modules an Airbyte
connector loads are written to work on v1 as they are.

The version is read from `pydantic.VERSION`. (The reference kit decides by whether
`pydantic.v1` imports, which pydantic 1.10.17 and later also provide, so there it would say
"v2" under those v1 releases and skip the patches; under the 1.10.14 the Airbyte connectors lock
both agree.) On v2 importing this module changes nothing.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson
import pydantic

from ._pydantic_major import PYDANTIC_V1

__all__ = ["VERSION", "GenericModel"]

VERSION = "v1" if PYDANTIC_V1 else "v2"

GenericModel: Any
if VERSION == "v1":
    from pydantic.generics import GenericModel  # type: ignore[no-redef,unused-ignore]

    def _model_dump_json(self: Any, by_alias: bool = False, exclude_unset: bool = False) -> str:
        return str(self.json(by_alias=by_alias, exclude_unset=exclude_unset))

    def _model_validate_json(cls: Any, json_data: str | bytes) -> Any:
        return cls.parse_obj(orjson.loads(json_data))

    def _model_json_schema(cls: Any) -> dict[str, Any]:
        return dict(cls.schema(by_alias=True))

    setattr(pydantic, "AwareDatetime", datetime.datetime)  # noqa: B010
    setattr(pydantic.BaseModel, "model_dump_json", _model_dump_json)  # noqa: B010
    setattr(pydantic.BaseModel, "model_validate_json", classmethod(_model_validate_json))  # noqa: B010
    setattr(pydantic.BaseModel, "model_json_schema", classmethod(_model_json_schema))  # noqa: B010
else:
    GenericModel = pydantic.BaseModel
