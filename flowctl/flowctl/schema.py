"""Compiled JSON-schema validation (jsonschema-rs) with errors that name the failing location
and schema path."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from . import json_pointer
from .errors import CatalogError


def pointer(parts: Any) -> str:
    """JSON pointer of a jsonschema-rs path (a list of names and indices)."""
    return json_pointer.join(*parts)


class Validator:
    """A compiled validator for one schema."""

    def __init__(self, schema: Any, name: str = "schema", validate_formats: bool = True) -> None:
        # Flow asserts `format` (date-time, uuid, email, ...) when validating documents.
        try:
            self._validator = jsonschema_rs.validator_for(schema, validate_formats=validate_formats)
        except Exception as err:  # jsonschema-rs raises ValueError / ReferencingError
            raise CatalogError(name, "", f"invalid JSON schema: {err}") from None
        self.is_valid = self._validator.is_valid

    def first_error(self, instance: Any) -> tuple[str, str, str] | None:
        """(instance location, schema path, message) of the first error, or None if valid."""
        for err in self._validator.iter_errors(instance):
            return pointer(err.instance_path), pointer(err.schema_path), str(err.message)
        return None
