"""The contract's JSON Schemas (docs/schemas/): generate them into a folder, or check a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.chat import CHAT_MESSAGE_ADAPTER
from mqtt_bridge.contract.events import EVENT_ADAPTER
from mqtt_bridge.contract.payloads import json_schemas


def contract_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of everything the contract defines, by file stem: every wire payload, one event (the
    union, discriminated by ``type``), one chat message (likewise) and the offer catalogue."""
    schemas = json_schemas({"catalogue": Catalogue})
    schemas["event"] = EVENT_ADAPTER.json_schema(mode="validation")
    schemas["chat_message"] = CHAT_MESSAGE_ADAPTER.json_schema(mode="validation")
    return dict(sorted(schemas.items()))


def render_schemas() -> dict[str, str]:
    """File name -> file text (pretty JSON, sorted keys, trailing newline) of every schema."""
    return {
        f"{name}.schema.json": json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, schema in contract_schemas().items()
    }


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into ``folder`` (created if needed); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(folder: Path) -> list[str]:
    """Names of schema files in ``folder`` that are missing, differ from the models, or are extra."""
    expected = render_schemas()
    present = {p.name for p in folder.glob("*.schema.json")} if folder.is_dir() else set()
    stale = [
        name
        for name, text in expected.items()
        if name not in present or (folder / name).read_text(encoding="utf-8") != text
    ]
    return sorted(stale + sorted(present - set(expected)))
