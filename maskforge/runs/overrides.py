"""``--set path.to.field=value``: type-checked overrides of recipe fields.

Paths walk attrs fields (``train.steps``) and, inside ``options`` mappings, keys
(``g_sparsity.options.density``). Values are parsed by the field's declared type: ``int``,
``float``, ``bool`` (true/false/yes/no/1/0), ``str``, optional fields accept ``none``, tuples and
mappings take Python literals (``(0.0, 0.999)``, ``{"a": 1}``). Inside ``options`` mappings a
value is parsed as a Python literal when it is one, else kept as a string. Every problem is an
:class:`OverrideError` of one line; validators of the recipe classes run on the new value.
"""

from __future__ import annotations

import ast
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from maskforge.errors import MaskforgeError


class OverrideError(MaskforgeError, ValueError):
    """A ``--set`` path or value does not fit the recipe."""


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "on"):  # the words a bool field takes, for untyped options too
            return True
        if lowered in ("false", "no", "off"):
            return False
        if lowered in ("none", "null"):
            return None
        return text


def _parse(text: str, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.strip().lower() in ("none", "null"):
            return None
        errors = []
        for option in options:
            try:
                return _parse(text, option, where)
            except OverrideError as err:
                errors.append(str(err))
        raise OverrideError(errors[0])
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise OverrideError(f"--set {where}={text}: expected true or false")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise OverrideError(f"--set {where}={text}: expected an integer") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise OverrideError(f"--set {where}={text}: expected a number") from None
    if kind is str:
        return text
    if origin is tuple or kind is tuple:
        value = _literal(text)
        if not isinstance(value, (tuple, list)):
            raise OverrideError(f"--set {where}={text}: expected a tuple such as (0.0, 0.999)")
        return tuple(value)
    if origin in (Mapping, dict) or kind in (dict, Mapping) or (origin is not None and issubclass(origin, Mapping)):
        value = _literal(text)
        if not isinstance(value, dict):
            raise OverrideError(f"--set {where}={text}: expected a mapping such as {{'density': 0.1}}")
        return value
    if isinstance(kind, type) and attrs.has(kind):
        raise OverrideError(f"--set {where}: is a group of settings; set one of its fields, e.g. {where}.{attrs.fields(kind)[0].name}=...")
    return _literal(text)


def _apply(obj: Any, parts: list[str], text: str, where: str) -> Any:
    name = parts[0]
    here = where.rsplit(".", len(parts) - 1)[0] if len(parts) > 1 else where
    if isinstance(obj, Mapping):
        if len(parts) == 1:
            return {**obj, name: _literal(text)}
        if name not in obj or not (isinstance(obj[name], Mapping) or attrs.has(type(obj[name]))):
            raise OverrideError(f"--set {where}: {name!r} is not a group of settings in {sorted(obj)}")
        return {**obj, name: _apply(obj[name], parts[1:], text, where)}
    if obj is None or not attrs.has(type(obj)):
        raise OverrideError(f"--set {where}: {here.rsplit('.', 1)[0]} has no fields to set")
    cls = type(obj)
    attrs.resolve_types(cls)
    fields = {f.name: f for f in attrs.fields(cls) if f.init}
    if name not in fields:
        close = difflib.get_close_matches(name, list(fields), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; fields: {', '.join(fields)}"
        raise OverrideError(f"--set {where}: {cls.__name__} has no field {name!r}{hint}")
    field = fields[name]
    if len(parts) == 1:
        value = _parse(text, field.type, where)
    else:
        value = _apply(getattr(obj, name), parts[1:], text, where)
    try:
        return attrs.evolve(obj, **{name: value})
    except (ValueError, TypeError) as err:
        # attrs' validators put the message first, then the field and the allowed values
        reason = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
        raise OverrideError(f"--set {where}={text}: {reason}") from None


def apply_overrides(recipe: Any, assignments: list[str]) -> Any:
    """The recipe with every ``path=value`` assignment applied, in order."""
    for assignment in assignments:
        if "=" not in assignment:
            raise OverrideError(f"--set {assignment}: expected PATH=VALUE, e.g. train.steps=100")
        path, text = assignment.split("=", 1)
        path = path.strip()
        if not path or any(not part for part in path.split(".")):
            raise OverrideError(f"--set {assignment}: empty path component")
        recipe = _apply(recipe, path.split("."), text, path)
    return recipe
