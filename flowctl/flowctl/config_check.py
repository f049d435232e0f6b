"""Checking a task's endpoint and resource configs against the schemas its connector returned
from Spec, before any Discover/Validate/Open carries them (Flow does the same at build time): the
user gets an error naming the catalog location and the bad field instead of a connector
traceback. Values of secret-marked fields never appear in these errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import orjson

from .catalog import Task
from .errors import CatalogError, ProtocolError
from .schema import pointer
from .unknown_keys import unknown_keys

_SECRET_MARKS = ("secret", "airbyte_secret")
_REDACTED = "<secret value>"
_MASK = "\u0000flowctl-secret\u0000"  # placeholder while rendering a masked value
_MAX_ERRORS = 10


def _is_marked(schema: Any) -> bool:
    return isinstance(schema, dict) and any(schema.get(m) is True for m in _SECRET_MARKS)


def _resolve_local(ref: Any, root: Any) -> Any:
    """The target of a document-local `$ref` (`#/$defs/x`), else None."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node = root
    for token in ref[1:].split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _holds_secret(schema: Any, root: Any, seen: set[int]) -> bool:
    """Whether `schema` is marked secret or has a secret anywhere inside it (through local
    `$ref`s, `oneOf` branches, nested properties, items ...)."""
    if isinstance(schema, list):
        return any(_holds_secret(v, root, seen) for v in schema)
    if not isinstance(schema, dict) or id(schema) in seen:
        return False
    seen.add(id(schema))
    if _is_marked(schema):
        return True
    target = _resolve_local(schema.get("$ref"), root)
    if target is not None and _holds_secret(target, root, seen):
        return True
    return any(
        _holds_secret(v, root, seen)
        for k, v in schema.items()
        if isinstance(v, dict | list) and k not in ("const", "enum", "default", "examples")
    )


def _secret_names(schema: Any, root: Any, out: set[str]) -> set[str]:
    """Names of every property whose schema is secret or holds a secret (a `credentials` object
    whose `access_token` is secret: a token pasted in place of the object is still the token),
    wherever it sits. Matching by name over-redacts at worst, which is the safe side."""
    if isinstance(schema, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for name, sub in props.items():
                if _holds_secret(sub, root, set()):
                    out.add(name)
        for value in schema.values():
            _secret_names(value, root, out)
    elif isinstance(schema, list):
        for value in schema:
            _secret_names(value, root, out)
    return out


def _scalars(value: Any, out: list[Any]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _scalars(v, out)
    elif isinstance(value, list):
        for v in value:
            _scalars(v, out)
    elif value is not None and not isinstance(value, bool):
        out.append(value)


def _secret_values(instance: Any, names: set[str], out: list[Any]) -> None:
    """Every scalar held (at any depth) under a secret-named property of `instance`."""
    if isinstance(instance, dict):
        for key, value in instance.items():
            if key in names:
                _scalars(value, out)
            else:
                _secret_values(value, names, out)
    elif isinstance(instance, list):
        for value in instance:
            _secret_values(value, names, out)


def _renderings(value: Any) -> list[str]:
    """How a validation message may quote `value`: compact JSON, keys as given or sorted."""
    try:
        forms = {orjson.dumps(value).decode(), orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()}
    except TypeError:
        return []
    return sorted(forms, key=len, reverse=True)


class _Redactor:
    """Keeps secret values out of validation messages: values of properties the schema marks
    secret or that hold a secret, and of config keys that were sops-encrypted (`encrypted`
    names; None: all values). A message that would still show one after masking is replaced
    by one that shows no value at all."""

    def __init__(self, schema: Any, instance: Any, encrypted: frozenset[str] | None = frozenset()) -> None:
        self._everything = encrypted is None
        self._names = _secret_names(schema, schema, set()) | (encrypted or frozenset())
        values: list[Any] = []
        if self._everything:
            _scalars(instance, values)
        else:
            _secret_values(instance, self._names, values)
        self._leak_patterns = [_leak_pattern(v) for v in values]

    def is_secret(self, path: list[str | int]) -> bool:
        return self._everything or any(isinstance(p, str) and p in self._names for p in path)

    def _masked(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _MASK if k in self._names else self._masked(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._masked(v) for v in value]
        return value

    def message(self, err: jsonschema_rs.ValidationError) -> str:
        text = str(err.message)
        secret = self.is_secret(list(err.instance_path))
        if secret:
            shown = _REDACTED
        else:
            masked = _renderings(self._masked(err.instance))
            shown = masked[0].replace(orjson.dumps(_MASK).decode(), _REDACTED) if masked else _REDACTED
        for form in _renderings(err.instance):
            text = text.replace(form, shown)
        if any(p.search(text) for p in self._leak_patterns):
            # The message quotes a secret some other way (a part of it, another rendering): say
            # what kind of problem it is, without any value.
            return f"{_REDACTED if secret else 'the value'} is invalid ({_kind_name(err)})"
        return text


def _leak_pattern(value: Any) -> re.Pattern[str]:
    """Finds `value` in a message: a string anywhere, a number as a whole token."""
    if isinstance(value, str):
        # A very short secret would match nearly any text: look for it quoted then.
        return re.compile(re.escape(value if len(value) >= 3 else orjson.dumps(value).decode()))
    return re.compile(rf"(?<![\w.]){re.escape(orjson.dumps(value).decode())}(?![\w.])")


def _kind_name(err: jsonschema_rs.ValidationError) -> str:
    return str(getattr(err.kind, "name", type(err.kind).__name__))


def _compile(schema: Any, which: str) -> Any:
    try:
        # Formats are asserted as Flow does; unknown formats (e.g. `password`) are ignored, and
        # so are annotation keywords a validator does not know (`secret`, `order`, `x-*`, ...).
        return jsonschema_rs.validator_for(schema, validate_formats=True)
    except Exception as err:  # jsonschema-rs raises ValueError / ReferencingError
        raise ProtocolError(f"connector returned an invalid {which}: {err}") from None


def _problems(
    schema: Any, instance: Any, which: str, encrypted: frozenset[str] | None = frozenset()
) -> str | None:
    """A description of every way `instance` fails `schema` (None when it conforms)."""
    validator = _compile(schema, which)
    if validator.is_valid(instance):
        return None
    redactor = _Redactor(schema, instance, encrypted)
    lines = []
    errors = list(validator.iter_errors(instance))
    for err in errors[:_MAX_ERRORS]:
        lines.append(f"  at {pointer(err.instance_path) or '/'}: {redactor.message(err)}")
    if len(errors) > _MAX_ERRORS:
        lines.append(f"  … and {len(errors) - _MAX_ERRORS} more")
    return f"does not match the connector's {which}:\n" + "\n".join(lines)


def _schema(spec: dict[str, Any], field: str) -> Any:
    """The schema `field` of a Spec response; an absent or empty one accepts anything."""
    schema = spec.get(field)
    return schema if schema not in (None, {}) else True


def check_endpoint_config(task: Task, spec: dict[str, Any]) -> None:
    """Raise a CatalogError when the (decrypted) endpoint config fails `configSchema`."""
    schema = _schema(spec, "configSchema")
    if schema is True:
        return
    endpoint = task.endpoint
    problems = _problems(schema, endpoint.config, "configSchema", endpoint.encrypted_names)
    if problems is None:
        return
    kind = "local" if task.endpoint.kind == "local" else "connector"
    location = f"{task.location}/endpoint/{kind}/config"
    source = f" (from {task.endpoint.config_file})" if task.endpoint.config_file else ""
    raise CatalogError(task.file, location, f"endpoint config{source} {problems}")


def check_resource_configs(task: Task, spec: dict[str, Any]) -> None:
    """Raise a CatalogError naming the first enabled binding whose resource config fails
    `resourceConfigSchema` (disabled bindings are not sent to the connector, so not checked)."""
    schema = _schema(spec, "resourceConfigSchema")
    if schema is True:
        return
    for binding in task.bindings:
        if binding.disable:
            continue
        problems = _problems(schema, binding.resource, "resourceConfigSchema")
        if problems is not None:
            raise CatalogError(task.file, f"{binding.location}/resource", f"resource config {problems}")


def check_task_configs(task: Task, spec: dict[str, Any], warn: Callable[[str], None] | None = None) -> None:
    """Both checks, endpoint config first (what Validate and Open carry); then `warn` hears of
    every key the schemas do not declare (a typo the connector would silently ignore)."""
    check_endpoint_config(task, spec)
    check_resource_configs(task, spec)
    if warn is not None:
        for line in unknown_key_warnings(task, spec):
            warn(line)


def unknown_key_warnings(task: Task, spec: dict[str, Any]) -> list[str]:
    """One line per config key the connector's configSchema / resourceConfigSchema does not
    declare, naming the catalog location, the key and the keys declared there."""
    kind = "local" if task.endpoint.kind == "local" else "connector"
    checks: list[tuple[str, str, Any]] = [
        (f"{task.location}/endpoint/{kind}/config", "configSchema", task.endpoint.config)
    ]
    checks += [
        (f"{b.location}/resource", "resourceConfigSchema", b.resource) for b in task.bindings if not b.disable
    ]
    lines = []
    for location, field, config in checks:
        for key_at, known in unknown_keys(_schema(spec, field), config):
            lines.append(
                f"{task.file}#{location}: key {key_at} is not in the connector's {field}, so the "
                f"connector ignores it (declared there: {', '.join(known)}); a typo?"
            )
    return lines
