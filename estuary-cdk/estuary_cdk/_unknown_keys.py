"""Keys of a configuration that no field of its model reads.

Configuration models of connectors ignore unknown keys (pydantic's default) or keep them as
extras, and connectors rely on that leniency, so a misspelt key (`base_ur:`) is accepted and
silently replaced by the field's default: the capture then talks to the wrong URL and the user
sees only its retries. `unknown_keys` compares the JSON a config was parsed from with the model
instance it became and names every key no field took, so the kit can warn about each one
without changing which configs are accepted (a model that forbids extras already refuses them).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, AliasPath, BaseModel, RootModel

__all__ = ["UnknownKey", "unknown_keys"]


@dataclass(frozen=True)
class UnknownKey:
    """One key of a config that is not a field of the model that parsed it."""

    path: str
    """Where the key is, dotted from the config's root (`credentials.client_idd`, `items.0.nam`)."""
    model: str
    """The name of the model class the key is not a field of."""
    kept: bool
    """Whether the model keeps unknown keys as extras (`extra="allow"`) rather than dropping them."""
    suggestion: str | None
    """The model's field whose name is closest to the key, if one is close."""

    def describe(self, where: str) -> str:
        """A sentence for the log: what is wrong with the key in `where` ("endpoint config")."""
        fate = "kept as an extra value that no field reads" if self.kept else "ignored"
        hint = f"; did you mean '{self.suggestion}'?" if self.suggestion else ""
        return f"{where}: '{self.path}' is not a field of {self.model}, so it is {fate}{hint}"


def _names(field_name: str, info: Any) -> Iterator[str]:
    """Every key under which a field may appear in its model's input."""
    yield field_name
    if info.alias:
        yield info.alias
    alias = info.validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
    for choice in choices:
        if isinstance(choice, str):
            yield choice
        elif isinstance(choice, AliasPath) and choice.path and isinstance(choice.path[0], str):
            yield choice.path[0]


def _fields_by_key(cls: type[BaseModel]) -> dict[str, str]:
    return {key: name for name, info in cls.model_fields.items() for key in _names(name, info)}


def unknown_keys(raw: Any, parsed: Any, path: str = "") -> list[UnknownKey]:
    """The keys of `raw` (the JSON value a config was parsed from) that no field of `parsed`
    (what it was parsed into) took, recursively through nested models, lists and dicts."""
    if isinstance(parsed, RootModel):
        return unknown_keys(raw, parsed.root, path)
    found: list[UnknownKey] = []
    if isinstance(parsed, BaseModel) and isinstance(raw, dict):
        cls = type(parsed)
        fields = _fields_by_key(cls)
        kept = cls.model_config.get("extra") == "allow"
        for key, value in raw.items():
            where = f"{path}.{key}" if path else str(key)
            name = fields.get(key)
            if name is None:
                close = difflib.get_close_matches(str(key), list(cls.model_fields), n=1, cutoff=0.75)
                found.append(UnknownKey(where, cls.__name__, kept, close[0] if close else None))
            else:
                found.extend(unknown_keys(value, getattr(parsed, name, None), where))
    elif isinstance(parsed, list | tuple) and isinstance(raw, list):
        for i, (raw_item, item) in enumerate(zip(raw, parsed, strict=False)):
            found.extend(unknown_keys(raw_item, item, f"{path}.{i}" if path else str(i)))
    elif isinstance(parsed, dict) and isinstance(raw, dict):
        for key, value in raw.items():
            if key in parsed:
                found.extend(unknown_keys(value, parsed[key], f"{path}.{key}" if path else str(key)))
    return found
