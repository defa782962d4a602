"""Organisations and their channels, from ``[[organisation]]`` tables and the organisations CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

from monitor.config.handles import _handle
from monitor.config.tables import _POLICY_KEYS, _Layer, _LoadState, _Table
from monitor.config.values import (
    _boolean,
    _Broken,
    _http_url,
    _nonempty,
    _read_text,
    _unknown,
)
from monitor.settings import PLATFORMS

_KNOWN = ", ".join(PLATFORMS)


@dataclass(slots=True)
class _Channel:
    organisation: str
    platform: str
    handle: str
    file: str
    where: str  # its key path, for messages
    layer: _Layer
    parked: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.organisation, self.platform, self.handle)


class _Organisation(NamedTuple):
    name: str | None  # None when missing or invalid (already reported)
    where: str  # for "first at …" in messages
    name_at: tuple[str, str]  # file and key path of its name
    channels: list[_Channel]
    website: str | None = None  # where discovery reads which channels it links


def _organisations(
    loader: _LoadState, top: _Table, csv_file: str | None
) -> tuple[list[str], list[_Channel], dict[str, str]]:
    """Every organisation, from ``[[organisation]]`` tables then the CSV, checked together;
    and the websites of those that give one."""
    names: dict[str, str] = {}  # name → where it was first given
    websites: dict[str, str] = {}
    channels: dict[tuple[str, str, str], _Channel] = {}
    tables = top.data.get("organisation", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        top.fail("organisation", "must be [[organisation]] tables")
        tables = []
    found = [
        _organisation(loader, _Table(loader, loader.file, f"organisation[{i}]", data))
        for i, data in enumerate(tables)
    ]
    if csv_file is not None:
        found += _csv(loader, loader.path.parent / csv_file)
    for name, where, (file, key), entries, website in found:
        if name is None:
            continue
        if name in names:
            loader.problem(file, key, f"duplicate organisation name (first at {names[name]})")
            continue
        names[name] = where
        if website is not None:
            websites[name] = website
        for channel in entries:
            first = channels.setdefault(channel.key, channel)
            if first is not channel:
                loader.problem(
                    channel.file, channel.where, f"duplicate channel (first at {first.where})"
                )
    return list(names), list(channels.values()), websites


def _organisation(loader: _LoadState, table: _Table) -> _Organisation:
    name = table.read("name", _nonempty)
    if not table.has("name"):
        loader.problem(loader.file, table.path, "name is required")
    channels = [
        channel
        for platform in table.data
        if platform in PLATFORMS
        for channel in _channels(loader, name or "", platform, table)
    ]
    website = table.read("website", _http_url)
    table.unknown(
        ("name", "website", *PLATFORMS), f"expected name, website or a platform: {_KNOWN}"
    )
    return _Organisation(name, table.path, (loader.file, table.key("name")), channels, website)


def _csv(loader: _LoadState, path: Path) -> list[_Organisation]:
    """Organisations from the CSV: a ``name`` column, a column per platform, and ``website``."""
    file = str(path)
    if (
        text := loader.convert(loader.file, "monitor.organisations_file", path, _read_text)
    ) is None:
        return []
    # Spreadsheets in many locales write ";" or tabs, so the header row tells the separator;
    # the rest is the standard (RFC 4180, Excel): quoted fields, "" for a quote inside one.
    # Only the separator is sniffed: from a header without quotes the sniffer also guesses
    # doublequote=False, which misreads "Stichting ""De Brug"", Utrecht".
    try:
        separator = csv.Sniffer().sniff(text.partition("\n")[0], ",;\t").delimiter
    except csv.Error:
        separator = ","
    reader = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=separator)
    try:
        rows = [(f"row {reader.line_num}", cells) for cells in reader]
    except csv.Error as exc:
        loader.problem(file, f"row {reader.line_num}", f"not readable as CSV: {exc}")
        return []
    header = [cell.strip().lower() for cell in rows[0][1]] if rows else []
    if "name" not in header:
        loader.problem(file, "row 1", 'the first row names the columns, and one must be "name"')
        return []
    for column in header:
        if column and column not in ("name", "website") and column not in PLATFORMS:
            known = f"known: name, website, {_KNOWN}"
            loader.problem(file, "row 1", _unknown("column", column, PLATFORMS, known))
        elif column and header.count(column) > 1:
            loader.problem(file, "row 1", f"column {column!r} appears twice")
    result = []
    for row, cells in rows[1:]:
        values = dict(zip(header, (cell.strip() for cell in cells), strict=False))
        if not any(values.values()):
            continue
        if not (name := values.get("name", "")):
            loader.problem(file, f"{row}: name", "name is required")
        channels = []
        for platform in (column for column in values if column in PLATFORMS):
            handles = values[platform].split()
            if handles and platform not in loader.supported:
                loader.problem(file, f"{row}: {platform}", _unsupported(loader, platform))
                continue
            for index, handle in enumerate(handles):
                key = f"{row}: {platform}" + (f"[{index}]" if len(handles) > 1 else "")
                checked = loader.convert(file, key, handle, partial(_handle, platform))
                if checked is not None:
                    channels.append(_Channel(name, platform, checked, file, key, _Layer(file)))
        where = f"{path.name} {row}"
        website = None
        if values.get("website"):
            website = loader.convert(file, f"{row}: website", values["website"], _http_url)
        name_at = (file, f"{row}: name")
        result.append(_Organisation(name or None, where, name_at, channels, website))
    return result


def _unsupported(loader: _LoadState, platform: str) -> str:
    return f"{platform} is not supported yet (supported: {', '.join(sorted(loader.supported))})"


def _channels(
    loader: _LoadState, organisation: str, platform: str, table: _Table
) -> list[_Channel]:
    """The channels of one ``platform = …`` entry: a handle, a table, or a list of them."""
    if platform not in loader.supported:
        table.fail(platform, _unsupported(loader, platform))
        return []
    value, key = table.data[platform], table.key(platform)
    entries = (
        [(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, list)
        else [(value, key)]
    )
    result = []
    for entry, where in entries:
        layer, parked, handle = _Layer(loader.file), False, None
        if isinstance(entry, dict):
            channel = _Table(loader, loader.file, where, entry)
            handle = channel.read("handle", partial(_handle, platform))
            if not channel.has("handle"):
                loader.problem(loader.file, where, 'a channel table needs handle = "…"')
            parked = bool(channel.read("parked", _boolean))
            layer = channel.layer(poll_interval=True)
            channel.unknown(("handle", "parked", "poll_interval", *_POLICY_KEYS))
        elif isinstance(entry, str | _Broken):
            handle = loader.convert(loader.file, where, entry, partial(_handle, platform))
        else:
            loader.problem(
                loader.file, where, "must be a handle, a table { handle = … }, or a list"
            )
        if handle is not None:
            result.append(
                _Channel(organisation, platform, handle, loader.file, where, layer, parked)
            )
    return result
