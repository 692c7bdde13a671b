"""Documents to push, read from JSON files and folders of ``*.json`` (numbers as exact Decimals).

A file holds one document (an object) or a list of them; a customers file may also be the API's own
body, ``{"customers": [...]}``. What cannot be read is kept as an item with its problem, so the
push reports it beside the hub's refusals instead of stopping.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import jsonio
from .errors import ConfigError


@dataclass
class Item:
    source: str  # the file, and the position in it for a list: "week.json[3]"
    body: Any = None
    problem: str | None = None  # why it cannot be sent; None: send body

    @property
    def document_id(self) -> str | None:
        if isinstance(self.body, dict):
            value = self.body.get("document_id", self.body.get("id"))
            return None if value is None else str(value)
        return None


def json_files(paths: list[Path]) -> list[Path]:
    """The files named, and each named folder's ``*.json`` files (by name, not descending)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.glob("*.json") if p.is_file())
            if not inside:
                raise ConfigError(f"folder {path} holds no *.json files")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"{path} is neither a file nor a folder")
    return found


def _read(path: Path) -> tuple[Any, str | None]:
    try:
        return jsonio.load_file(path), None
    except OSError as exc:
        return None, f"cannot read the file: {exc.strerror or exc}"
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None, f"not valid JSON: {exc}"


def documents(paths: list[Path]) -> list[Item]:
    """Settlements, payroll journals, stock registrations: one object per document."""
    items: list[Item] = []
    for path in json_files(paths):
        data, problem = _read(path)
        if problem:
            items.append(Item(str(path), problem=problem))
        elif isinstance(data, list):
            items += [_object(f"{path}[{i}]", entry) for i, entry in enumerate(data)]
        else:
            items.append(_object(str(path), data))
    return items


def customers(paths: list[Path]) -> list[Item]:
    """Customer records: a file of one, a list, or ``{"customers": [...]}``."""
    items: list[Item] = []
    for path in json_files(paths):
        data, problem = _read(path)
        if problem:
            items.append(Item(str(path), problem=problem))
            continue
        if isinstance(data, dict) and isinstance(data.get("customers"), list) and "id" not in data:
            data = data["customers"]
        if isinstance(data, list):
            items += [_object(f"{path}[{i}]", entry) for i, entry in enumerate(data)]
        else:
            items.append(_object(str(path), data))
    return items


def _object(source: str, data: Any) -> Item:
    if isinstance(data, dict):
        return Item(source, body=data)
    return Item(source, problem=f"expected a JSON object, found {type(data).__name__}")
