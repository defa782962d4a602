"""How problems are collected: one load's shared state and typed reads of its TOML tables.

Every section reads through a ``_Table``, which records each mistake at its key path instead of
raising, so that all of them can be reported together.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from monitor.config.values import (
    _count_kinds,
    _duration,
    _nonempty,
    _positive,
    _read_text,
    _Reported,
    _unknown,
    _whole,
)

T = TypeVar("T")
V = TypeVar("V")

_POLICY_KEYS: dict[str, Callable[[object], object]] = {
    "inactive_after": _duration,
    "dormant_after": _duration,
    "quiet_factor": _positive(1000),
    "target_posts": _whole(0, 10_000),  # posts per target_period
    "target_period": _duration,
    "count_kinds": _count_kinds,
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in the configuration: the file, the key path within it, and what is wrong."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.key, self.message) if part)


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` holds every mistake found, in the order found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(slots=True)
class _Layer:
    """The policy keys and poll_interval set at one level, with each one's key path."""

    file: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)


class _Table:
    """One table under validation: typed reads, each problem recorded at its key path."""

    def __init__(self, loader: _LoadState, file: str, path: str, data: object) -> None:
        self.loader, self.file, self.path = loader, file, path
        self.data: Mapping[str, object] = data if isinstance(data, dict) else {}

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.data

    def fail(self, name: str, message: str) -> None:
        self.loader.problem(self.file, self.key(name), message)

    def read(self, name: str, convert: Callable[[object], T]) -> T | None:
        if name not in self.data:
            return None
        return self.loader.convert(self.file, self.key(name), self.data[name], convert)

    def table(self, name: str) -> _Table:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            self.fail(name, f"must be a table ([{self.key(name)}])")
        return _Table(self.loader, self.file, self.key(name), value)

    def layer(self, *, poll_interval: bool) -> _Layer:
        layer = _Layer(self.file)
        converters = {**_POLICY_KEYS, **({"poll_interval": _duration} if poll_interval else {})}
        for name, convert in converters.items():
            if (value := self.read(name, convert)) is not None:
                layer.values[name], layer.keys[name] = value, self.key(name)
        return layer

    def unknown(self, known: Collection[str], expected: str = "") -> None:
        for name in self.data:
            if name not in known:
                self.fail(name, _unknown("key", name, known, expected))


class _LoadState:
    """What one load shares while every part is checked: the problems found, the secrets seen."""

    def __init__(self, path: Path, env: Mapping[str, str], supported: frozenset[str]) -> None:
        self.path, self.file, self.env, self.supported = path, str(path), env, supported
        self.problems: list[Problem] = []
        self.secrets: set[str] = set()

    def problem(self, file: str, key: str, message: str) -> None:
        if (problem := Problem(file, key, message)) not in self.problems:
            self.problems.append(problem)

    def convert(self, file: str, key: str, value: V, convert: Callable[[V], T]) -> T | None:
        try:
            return convert(value)
        except _Reported:
            return None
        except ValueError as exc:
            self.problem(file, key, str(exc))
            return None

    def secret(self, table: _Table, name: str) -> str | None:
        """A secret given directly (``${VAR}`` included) or read from the ``_file`` variant."""
        file_key = f"{name}_file"
        value = table.read(name, _nonempty)
        if value is not None:
            self.secrets.add(value)
        if table.has(name) and table.has(file_key):
            table.fail(file_key, f"give {name} or {file_key}, not both")
            return value
        if (relative := table.read(file_key, _nonempty)) is None:
            return value
        path = self.path.parent / relative
        value = self.convert(self.file, table.key(file_key), path, _read_text)
        if value is not None and not (value := value.strip()):
            table.fail(file_key, f"{path} is empty")
        if not value:
            return None
        self.secrets.add(value)
        return value
