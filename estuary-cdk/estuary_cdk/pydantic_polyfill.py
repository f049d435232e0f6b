"""Compatibility shim kept so connectors written for the reference kit import unchanged.

The reference kit also supports pydantic v1 here; this kit requires pydantic v2, so the shim only
names the version and aliases `GenericModel` (a plain `BaseModel` is generic-capable in v2).
"""

from pydantic import BaseModel

VERSION = "v2"
GenericModel = BaseModel

__all__ = ["VERSION", "GenericModel"]
