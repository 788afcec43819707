"""Request-body checks against Microsoft's own Graph description (../shared/graph).

Graph rejects properties its model does not declare, so the check is strict: `allOf` chains are
flattened and unknown keys are refused (the description's `additionalProperties: {type: object}`
"open type" marker, read literally, would instead reject every valid body). `@odata.*`
annotations are allowed. Action parameters (getSchedule, cancel) and enum values are matched
case-insensitively, as Graph does: Microsoft's own create-event example sends `"type": "Required"`
and `"contentType": "HTML"`.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

from config import ROOT

DEFAULT_SPEC = ROOT.parent / "shared" / "graph" / "graph-v1.0-calendar-subset.lite.json"
_REF = "#/components/schemas/"


class GraphSpec:
    def __init__(self, path: Path = DEFAULT_SPEC) -> None:
        self._doc = json.loads(Path(path).read_text(encoding="utf-8"))
        self._components: dict[str, Any] = self._doc["components"]["schemas"]
        self._validators: dict[tuple[str, str], OAS30Validator | None] = {}

    @cached_property
    def _definitions(self) -> dict[str, Any]:
        return {name: self._strict(schema) for name, schema in self._components.items()}

    def _own_properties(self, schema: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in schema:
            return self._own_properties(self._components[schema["$ref"].removeprefix(_REF)])
        props: dict[str, Any] = {}
        for part in schema.get("allOf", []):
            props.update(self._own_properties(part))
        props.update(schema.get("properties", {}))
        return props

    def _strict(self, schema: Any) -> Any:
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            return {"$ref": "#/definitions/" + schema["$ref"].removeprefix(_REF)}
        out = {k: v for k, v in schema.items() if k not in ("allOf", "additionalProperties", "properties")}
        if isinstance(schema.get("enum"), list) and all(isinstance(v, str) for v in schema["enum"]):
            # Graph matches enum values whatever their case
            del out["enum"]
            out["type"] = "string"
            out["pattern"] = "(?i)^(?:" + "|".join(re.escape(v) for v in schema["enum"]) + ")$"
        if "allOf" in schema or "properties" in schema or schema.get("type") == "object":
            out["type"] = "object"
            out["properties"] = {k: self._strict(v) for k, v in self._own_properties(schema).items()}
            out["additionalProperties"] = False
            out["patternProperties"] = {r"^@odata\.": {}}
        if "items" in schema:
            out["items"] = self._strict(schema["items"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                out[key] = [self._strict(s) for s in schema[key]]
        return out

    @cached_property
    def _enums_by_property(self) -> dict[str, dict[str, str]]:
        """Property name -> {lower-case value: declared value}, for every enum-typed property."""
        enums: dict[str, dict[str, str]] = {}

        def enum_of(schema: Any) -> list[str]:
            if not isinstance(schema, dict):
                return []
            if "$ref" in schema:
                return enum_of(self._components.get(schema["$ref"].removeprefix(_REF)))
            values = [v for v in schema.get("enum", []) if isinstance(v, str)]
            for key in ("anyOf", "oneOf", "allOf"):
                for part in schema.get(key, []):
                    values += enum_of(part)
            return values

        for schema in self._components.values():
            for name, prop in self._own_properties(schema).items():
                values = enum_of(prop) or enum_of(prop.get("items") if isinstance(prop, dict) else None)
                if values:
                    enums.setdefault(name, {}).update({v.lower(): v for v in values})
        return enums

    def canonical(self, body: Any) -> Any:
        """`body` with every enum value in its declared case."""
        enums = self._enums_by_property

        def walk(node: Any, name: str = "") -> Any:
            if isinstance(node, dict):
                return {k: walk(v, k) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v, name) for v in node]
            if isinstance(node, str) and name in enums:
                return enums[name].get(node.lower(), node)
            return node

        return walk(body)

    def _validator(self, path: str, method: str) -> OAS30Validator | None:
        key = (path, method)
        if key not in self._validators:
            operation = self._doc["paths"][path][method]
            body = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
            if body is None:
                self._validators[key] = None
            else:
                root = {**self._strict(body["schema"]), "definitions": self._definitions}
                self._validators[key] = OAS30Validator(root)
        return self._validators[key]

    def declared_names(self, path: str, method: str) -> dict[str, str]:
        """Lower-cased top-level parameter name -> declared name, for an action body."""
        body = self._doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        return {name.lower(): name for name in self._own_properties(body)}

    def check(self, path: str, method: str, body: Any, *, case_insensitive: bool = False) -> list[str]:
        """Problems with `body` for the operation (empty list when it is valid)."""
        validator = self._validator(path, method)
        if validator is None:
            return []
        if case_insensitive and isinstance(body, dict):
            names = self.declared_names(path, method)
            body = {names.get(k.lower(), k): v for k, v in body.items()}
        return [f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
                for e in validator.iter_errors(body)]
