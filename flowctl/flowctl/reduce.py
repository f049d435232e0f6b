"""Reduction of two documents with a schema's `reduce` annotations (flow-protocol §6.2).

Annotations are found the way validation would apply them to the right-hand (newer) document:
the location's own schema, `$ref` targets, `allOf` members, matching `anyOf`/`oneOf` branches and
the `then`/`else` branch of `if`. The last `reduce` found wins; without one a location is
last-write-wins. Only locations present in both documents are reduced (non-full reduction)."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import unquote

from . import json_pointer
from .errors import ReduceError
from .json_order import sort_key
from .schema import Validator

_Loc = tuple[Any, dict[str, Any]]  # (schema node, the resource it lives in, for `#` refs)


def _any_reduce_with(node: Any, field: str) -> bool:
    """True when some `reduce` annotation under `node` has `field` (conservative: any key named
    `reduce` counts, wherever it sits)."""
    if isinstance(node, dict):
        red = node.get("reduce")
        if isinstance(red, dict) and field in red:
            return True
        return any(_any_reduce_with(v, field) for v in node.values())
    if isinstance(node, list):
        return any(_any_reduce_with(v, field) for v in node)
    return False


def has_reduce_annotations(node: Any) -> bool:
    """True when any location could carry a `reduce` annotation (conservative)."""
    return _any_reduce_with(node, "strategy")


class Reducer:
    """Reduces documents of one collection."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema
        self.annotated = has_reduce_annotations(schema)
        self._deletes = _any_reduce_with(schema, "delete")  # some annotation may set `delete`
        self._shallow = _shallow_merge_plan(schema)
        self._validators: dict[int, Validator] = {}
        # Caches keyed by schema identities (the schema is kept alive by this reducer).
        self._static: dict[tuple[int, ...], list[_Loc]] = {}
        self._properties: dict[tuple[tuple[int, ...], str], list[_Loc]] = {}

    # --- public ------------------------------------------------------------------------------
    def reduce(self, lhs: Any, rhs: Any) -> Any:
        """`rhs` reduced onto `lhs`; honours root `delete: true` (a deleted LHS is replaced)."""
        if not self.annotated:
            return rhs
        fast = self._shallow
        if fast is not None:
            condition, then_deletes, else_deletes = fast
            rhs_deletes = then_deletes if self._matches(condition, self.root, rhs) else else_deletes
            if (
                not rhs_deletes
                and (then_deletes or else_deletes)
                and (then_deletes if self._matches(condition, self.root, lhs) else else_deletes)
            ):
                return rhs
            return (
                {**lhs, **rhs}
                if isinstance(lhs, dict) and isinstance(rhs, dict)
                else self._merge_error(lhs, rhs)
            )
        rhs_app = self._applicable([(self.root, self.root)], rhs)
        if (
            self._deletes
            and self._strategy(rhs_app).get("delete") is not True
            and self.root_strategy(lhs).get("delete") is True
        ):
            return rhs
        return self._reduce_with(lhs, rhs, rhs_app, "")

    @staticmethod
    def _merge_error(lhs: Any, rhs: Any) -> Any:
        raise ReduceError(
            f"at /: merge strategy expects two objects or two arrays, got {_type(lhs)} and {_type(rhs)}"
        )

    def root_strategy(self, doc: Any) -> dict[str, Any]:
        return self._strategy(self._applicable([(self.root, self.root)], doc))

    # --- annotation lookup -------------------------------------------------------------------
    def _matches(self, schema: Any, base: dict[str, Any], value: Any) -> bool:
        if isinstance(schema, bool):
            return schema
        validator = self._validators.get(id(schema))
        if validator is None:
            candidate: Any = schema
            if base is not schema and isinstance(schema, dict):
                candidate = {**schema, "$defs": {**base.get("$defs", {}), **schema.get("$defs", {})}}
            validator = Validator(candidate, "reduce condition")
            self._validators[id(schema)] = validator
        return bool(validator.is_valid(value))

    def _resolve(self, ref: str, base: dict[str, Any]) -> _Loc:
        target, _, fragment = ref.partition("#")
        resource = base
        if target:
            defs = self.root.get("$defs", {})
            resource = defs.get(target)
            if not isinstance(resource, dict):
                raise ReduceError(f"cannot resolve schema reference {ref!r} while reducing")
        try:
            return json_pointer.resolve(resource, unquote(fragment)), resource
        except (KeyError, IndexError, ValueError):
            raise ReduceError(f"cannot resolve schema reference {ref!r} while reducing") from None

    def _applicable(self, locs: list[_Loc], value: Any) -> list[_Loc]:
        cache_key = tuple(id(schema) for schema, _ in locs)
        cached = self._static.get(cache_key)
        if cached is not None:
            return cached
        out: list[_Loc] = []
        queue = list(locs)
        seen = 0
        conditional = False
        while queue:
            schema, base = queue.pop(0)
            seen += 1
            if seen > 1000 or not isinstance(schema, dict):
                continue
            out.append((schema, base))
            ref = schema.get("$ref")
            if isinstance(ref, str) and not ref.startswith("flow://"):
                queue.append(self._resolve(ref, base))
            for sub in schema.get("allOf") or ():
                queue.append((sub, base))
            for keyword in ("anyOf", "oneOf"):
                for sub in schema.get(keyword) or ():
                    conditional = True
                    if self._matches(sub, base, value):
                        queue.append((sub, base))
            if "if" in schema:
                conditional = True
                branch = "then" if self._matches(schema["if"], base, value) else "else"
                if branch in schema:
                    queue.append((schema[branch], base))
        if not conditional:
            self._static[cache_key] = out  # the same whatever the value: remember it
        return out

    @staticmethod
    def _strategy(app: list[_Loc]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for schema, _ in app:
            red = schema.get("reduce")
            if isinstance(red, dict):
                found = red
        return found

    def _property(self, app: list[_Loc], name: str) -> list[_Loc]:
        cache_key = (tuple(id(schema) for schema, _ in app), name)
        cached = self._properties.get(cache_key)
        if cached is None:
            cached = self._properties[cache_key] = self._lookup_property(app, name)
        return cached

    @staticmethod
    def _lookup_property(app: list[_Loc], name: str) -> list[_Loc]:
        out: list[_Loc] = []
        for schema, base in app:
            props = schema.get("properties")
            if isinstance(props, dict) and name in props:
                out.append((props[name], base))
                continue
            matched = False
            patterns = schema.get("patternProperties")
            if isinstance(patterns, dict):
                for pattern, sub in patterns.items():
                    if _regex(pattern).search(name):
                        out.append((sub, base))
                        matched = True
            if not matched and isinstance(schema.get("additionalProperties"), dict):
                out.append((schema["additionalProperties"], base))
        return out

    @staticmethod
    def _item(app: list[_Loc], index: int) -> list[_Loc]:
        out: list[_Loc] = []
        for schema, base in app:
            prefix = schema.get("prefixItems")
            items = schema.get("items")
            if isinstance(prefix, list) and index < len(prefix):
                out.append((prefix[index], base))
            elif isinstance(items, list):
                if index < len(items):
                    out.append((items[index], base))
                elif isinstance(schema.get("additionalItems"), dict):
                    out.append((schema["additionalItems"], base))
            elif isinstance(items, dict):
                out.append((items, base))
        return out

    # --- strategies --------------------------------------------------------------------------
    def _reduce(self, lhs: Any, rhs: Any, locs: list[_Loc], at: str) -> Any:
        return self._reduce_with(lhs, rhs, self._applicable(locs, rhs), at)

    def _reduce_with(self, lhs: Any, rhs: Any, app: list[_Loc], at: str) -> Any:
        strategy = self._strategy(app)
        name = strategy.get("strategy", "lastWriteWins")
        if name == "lastWriteWins":
            return rhs
        if name == "firstWriteWins":
            return lhs
        if name == "merge":
            return self._merge(lhs, rhs, app, strategy, at)
        if name == "append":
            if lhs is None:
                return None
            if isinstance(lhs, list) and isinstance(rhs, list):
                return lhs + rhs
            raise ReduceError(
                f"at {at or '/'}: append strategy expects arrays, got {_type(lhs)} and {_type(rhs)}"
            )
        if name == "sum":
            if lhs is None:
                return rhs
            if _is_number(lhs) and _is_number(rhs):
                return lhs + rhs
            raise ReduceError(
                f"at {at or '/'}: sum strategy expects numbers, got {_type(lhs)} and {_type(rhs)}"
            )
        if name in ("minimize", "maximize"):
            keys = strategy.get("key") or []
            a = [_at(lhs, k) for k in keys] if keys else lhs
            b = [_at(rhs, k) for k in keys] if keys else rhs
            ka, kb = sort_key(a), sort_key(b)
            if ka == kb:
                if isinstance(lhs, dict | list) and type(lhs) is type(rhs):
                    return self._merge(lhs, rhs, app, {"strategy": "merge"}, at)
                return rhs
            keep_lhs = ka < kb if name == "minimize" else ka > kb
            return lhs if keep_lhs else rhs
        if name == "set":
            return self._set(lhs, rhs, app, strategy, at)
        raise ReduceError(f"at {at or '/'}: unknown reduce strategy {name!r}")

    def _merge(self, lhs: Any, rhs: Any, app: list[_Loc], strategy: dict[str, Any], at: str) -> Any:
        if isinstance(lhs, dict) and isinstance(rhs, dict):
            out = dict(lhs)
            for k, v in rhs.items():
                if k in out:
                    locs = self._property(app, k)
                    # no schema at this location: last write wins
                    out[k] = self._reduce(out[k], v, locs, f"{at}/{k}") if locs else v
                else:
                    out[k] = v
            return out
        if isinstance(lhs, list) and isinstance(rhs, list):
            keys = strategy.get("key")
            if keys:
                return self._merge_keyed(lhs, rhs, app, keys, at)
            merged = [
                self._reduce(lv, rv, self._item(app, i), f"{at}/{i}")
                for i, (lv, rv) in enumerate(zip(lhs, rhs, strict=False))
            ]
            return merged + (lhs[len(rhs) :] if len(lhs) > len(rhs) else rhs[len(lhs) :])
        raise ReduceError(
            f"at {at or '/'}: merge strategy expects two objects or two arrays, got {_type(lhs)} and {_type(rhs)}"
        )

    def _merge_keyed(
        self, lhs: list[Any], rhs: list[Any], app: list[_Loc], keys: list[str], at: str
    ) -> list[Any]:
        def k(item: Any) -> Any:
            return sort_key([_at(item, p) for p in keys])

        out: list[Any] = []
        i = j = 0
        items = self._item(app, 0)
        while i < len(lhs) and j < len(rhs):
            ki, kj = k(lhs[i]), k(rhs[j])
            if ki < kj:
                out.append(lhs[i])
                i += 1
            elif kj < ki:
                out.append(rhs[j])
                j += 1
            else:
                out.append(self._reduce(lhs[i], rhs[j], items, f"{at}/{len(out)}"))
                i += 1
                j += 1
        return out + lhs[i:] + rhs[j:]

    def _set(self, lhs: Any, rhs: Any, app: list[_Loc], strategy: dict[str, Any], at: str) -> Any:
        if not isinstance(lhs, dict) or not isinstance(rhs, dict):
            raise ReduceError(
                f"at {at or '/'}: set strategy expects objects with add/remove/intersect, got {_type(lhs)} and {_type(rhs)}"
            )
        keys = strategy.get("key") or []
        out = dict(lhs)

        def ident(container: Any, item: Any) -> Any:
            if isinstance(container, dict):
                return item
            return tuple(sort_key(_at(item, p)) for p in keys) if keys else sort_key(item)

        def entries(term: Any) -> dict[Any, Any]:
            if isinstance(term, dict):
                return dict(term)
            if isinstance(term, list):
                return {ident(term, item): item for item in term}
            return {}

        def rebuild(like: Any, values: dict[Any, Any]) -> Any:
            if isinstance(like, list):
                return [values[k] for k in sorted(values)]
            return {k: values[k] for k in sorted(values)}

        like = next((rhs[t] for t in ("add", "remove", "intersect") if t in rhs), None)
        if "remove" in rhs:
            removed = entries(rhs["remove"])
            if "add" in out:
                out["add"] = rebuild(
                    out["add"], {k: v for k, v in entries(out["add"]).items() if k not in removed}
                )
            if "intersect" in out:
                out["intersect"] = rebuild(
                    out["intersect"], {k: v for k, v in entries(out["intersect"]).items() if k not in removed}
                )
            else:
                out["remove"] = rebuild(like, {**entries(out.get("remove")), **removed})
        if "intersect" in rhs:
            keep = entries(rhs["intersect"])
            if "add" in out:
                out["add"] = rebuild(out["add"], {k: v for k, v in entries(out["add"]).items() if k in keep})
            if "remove" in out:
                gone = entries(out.pop("remove"))
                out["intersect"] = rebuild(like, {k: v for k, v in keep.items() if k not in gone})
            elif "intersect" in out:
                prior = entries(out["intersect"])
                out["intersect"] = rebuild(like, {k: v for k, v in prior.items() if k in keep})
            else:
                out["intersect"] = rhs["intersect"]
        if "add" in rhs:
            added = entries(rhs["add"])
            current = entries(out.get("add"))
            item_locs = self._property(self._property(app, "add"), "")  # properties of `add` members
            for k, v in added.items():
                if k in current:
                    sub = (
                        self._item(self._property(app, "add"), 0)
                        if isinstance(rhs["add"], list)
                        else item_locs
                    )
                    current[k] = self._reduce(current[k], v, sub, f"{at}/add")
                else:
                    current[k] = v
            out["add"] = rebuild(rhs["add"], current)
            if "remove" in out:
                out["remove"] = rebuild(
                    out["remove"], {k: v for k, v in entries(out["remove"]).items() if k not in added}
                )
            if "intersect" in out:
                out["intersect"] = rebuild(out["intersect"], {**entries(out["intersect"]), **added})
        return out


def _shallow_merge_plan(schema: dict[str, Any]) -> tuple[Any, bool, bool] | None:
    """(if-schema, then deletes, else deletes) when the schema is the Python CDK's pattern: a
    root `merge` chosen by if/then/else and no annotation below the root, so that reducing two
    documents is a shallow dict merge. None for any other shape (the general path applies)."""
    branches = [schema.get("then"), schema.get("else")]
    if "if" not in schema or not all(isinstance(b, dict) and set(b) == {"reduce"} for b in branches):
        return None
    reduces = [b["reduce"] for b in branches]  # type: ignore[index]
    if not all(isinstance(r, dict) and r.get("strategy") == "merge" and "key" not in r for r in reduces):
        return None
    if any(k in schema for k in ("$ref", "allOf", "anyOf", "oneOf")):
        return None
    root_reduce = schema.get("reduce")
    if root_reduce is not None and root_reduce != {"strategy": "merge"}:
        return None
    children: list[Any] = []
    for keyword in ("properties", "patternProperties"):
        if isinstance(schema.get(keyword), dict):
            children.extend(schema[keyword].values())
    children.append(schema.get("additionalProperties"))
    if any(has_reduce_annotations(c) or b'"$ref"' in _json_bytes(c) for c in children):
        return None
    return schema["if"], reduces[0].get("delete") is True, reduces[1].get("delete") is True


def _json_bytes(value: Any) -> bytes:
    import orjson

    try:
        return orjson.dumps(value)
    except TypeError:
        return b'"$ref"'  # cannot tell: take the general path


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    import re

    return re.compile(pattern)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if _is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _at(doc: Any, pointer: str) -> Any:
    return json_pointer.query(doc, json_pointer.split(pointer))
