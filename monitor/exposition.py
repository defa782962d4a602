"""``/metrics`` without judging or rendering what did not change.

The per-channel series make up nearly all of a scrape (3 kB a channel). Each channel's lines
are rendered once for what they show (``metrics.Shown``) and kept; a scrape sends them under
the families' headers, piece after piece (never joined: 250 MB at 100,000 channels), and the
list of pieces is kept until some judgement changes (the judgement's ``version``). The daemon's
own instruments are small and rendered at every scrape by prometheus_client as usual. Lines are
written as prometheus_client writes them (sorted labels, escaped values, Go float format), and
a test holds the two to the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from monitor.metrics import (
    CHANNEL_FAMILIES,
    CHANNEL_LABELS,
    Shown,
    build_info,
    channel_families,
    channel_rows,
)
from monitor.settings import ChannelSettings
from monitor.views import ChannelView

log = logging.getLogger("channel_monitor.metrics")

Encoder = Callable[[Collector], bytes]
Current = Callable[[], tuple[int, Sequence[tuple[int, ChannelView]]]]
Changed = Callable[[int], tuple[int, Sequence[tuple[int, ChannelView]]] | None]
Held = Callable[[], tuple[int, AbstractSet[int]]]  # a version of the set, and the channel ids
_EOF = b"# EOF\n"
_INDEX = {key: i for i, (key, *_) in enumerate(CHANNEL_FAMILIES)}
_LAST_POLL, _LAST_SUCCESS = _INDEX["last_poll"], _INDEX["last_success"]


class _Metrics(Collector):
    """Some ready families, as a collector an encoder can read."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def _label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class _Lines:
    """How ``encoder`` starts the sample lines of each family: the metric name and the label
    names (sorted), as it writes them for a probe sample (escaping schemes differ by format)."""

    def __init__(self, encoder: Encoder) -> None:
        self.names: list[str] = []
        self.orders: list[tuple[tuple[int, str], ...]] = []
        for (*_, extra), family in zip(CHANNEL_FAMILIES, channel_families().values(), strict=True):
            labels = (*CHANNEL_LABELS, *extra)
            family.add_metric([""] * len(labels), 0)
            line = next(
                line
                for line in _headers(encoder, [family]).decode().splitlines()
                if not line.startswith("#")
            )
            name, _, rest = line.partition("{")
            escaped = [pair.partition("=")[0] for pair in rest.rpartition("}")[0].split(",")]
            self.names.append(name)
            self.orders.append(
                tuple((labels.index(label), escaped[at]) for at, label in enumerate(sorted(labels)))
            )
        self.signature = (tuple(self.names), tuple(self.orders))

    def render(self, settings: ChannelSettings, shown: Shown) -> tuple[bytes, ...]:
        """One channel's lines, per family."""
        chunks: list[list[str]] = [[] for _ in CHANNEL_FAMILIES]
        for key, values, value in channel_rows(settings, shown):
            index = _INDEX[key]
            chunks[index].append(self._line(index, values, value))
        return tuple("".join(lines).encode() for lines in chunks)

    def polled_again(
        self, settings: ChannelSettings, before: Shown, chunks: tuple[bytes, ...], shown: Shown
    ) -> tuple[bytes, ...] | None:
        """``chunks`` (rendered for ``before``) for ``shown``, when all that moved is the last
        poll and the last success, as after every unchanged poll: their two lines are rendered
        again, the others kept. None when more changed."""
        polled, succeeded = shown.last_poll_at, shown.last_success_at
        if (
            polled is None
            or succeeded is None
            or before.last_poll_at is None
            or before.last_success_at is None
            or shown != replace(before, last_poll_at=polled, last_success_at=succeeded)
        ):
            return None
        labels = (settings.organisation, settings.platform, settings.label)
        again = list(chunks)
        for index, at in ((_LAST_POLL, polled), (_LAST_SUCCESS, succeeded)):
            again[index] = self._line(index, labels, at.timestamp()).encode()
        return tuple(again)

    def _line(self, index: int, values: Sequence[str], value: float) -> str:
        labels = ",".join(
            f'{label}="{_label_value(values[at])}"' for at, label in self.orders[index]
        )
        number = floatToGoString(value)  # type: ignore[no-untyped-call]
        return f"{self.names[index]}{{{labels}}} {number}\n"


class ChannelExposition:
    """The per-channel part of ``/metrics``, kept between scrapes (thread-safe).

    ``prepare`` renders what changed ahead of the scrape (the daemon calls it every second), so
    a scrape mostly joins kept lines; formats whose lines are the same share them. With
    ``held``, only the channels it names are exported (those this replica polls: each channel's
    series come from one replica), and the whole text is joined again when that set changes.
    """

    def __init__(
        self, current: Current, changed: Changed | None = None, held: Held | None = None
    ) -> None:
        self._current = current
        self._changed = changed
        self._held = held
        self._lock = threading.Lock()
        self._lines: dict[tuple[object, ...], _Lines] = {}  # by encoder
        self._rendered: dict[
            tuple[object, ...], dict[int, tuple[ChannelView, Shown, tuple[bytes, ...]]]
        ] = {}  # by how lines are written (``_Lines.signature``), by channel
        self._joined: dict[tuple[object, ...], tuple[tuple[int, int], tuple[bytes, ...]]] = {}
        self._prepared = (-1, -1)  # the judgement's version, and the held set's

    def render(self, encoder: Encoder, registry: Collector) -> bytes:
        """The whole exposition: ``registry`` as ``encoder`` writes it, then the channels."""
        return b"".join(self.pieces(encoder, registry))

    def pieces(self, encoder: Encoder, registry: Collector) -> Sequence[bytes]:
        """The whole exposition in pieces, to be sent one after the other: at 100,000 channels
        it is some 250 MB, which is never joined in memory (``render`` joins it)."""
        own = encoder(registry)
        channels = self.channel_pieces(encoder)
        if own.endswith(_EOF):  # OpenMetrics: the end marker stays last
            return (own[: -len(_EOF)], *channels, _EOF)
        return (own, *channels)

    def channels(self, encoder: Encoder) -> bytes:
        """Build information and every channel's series, as ``encoder`` writes them."""
        return b"".join(self.channel_pieces(encoder))

    def channel_pieces(self, encoder: Encoder) -> tuple[bytes, ...]:
        """``channels`` in pieces: each family's header and each channel's lines of it, as
        kept (the same tuple until some judgement changes)."""
        key = _key(encoder)
        with self._lock:
            version, judged = self._current()
            held = self._held() if self._held is not None else None
            stamp = (version, held[0] if held is not None else 0)
            kept = self._joined.get(key)
            if kept is not None and kept[0] == stamp:
                return kept[1]
            per_channel = self._update(self._lines_for(encoder, key), _only(judged, held))
            parts = [_headers(encoder, [build_info()])]
            for index, family in enumerate(channel_families().values()):
                parts.append(_headers(encoder, [family]))
                parts.extend(chunks[index] for chunks in per_channel)
            pieces = tuple(parts)
            self._joined = {key: (stamp, pieces)}  # one kept: a scraper asks in one format
            return pieces

    def prepare(self, encoder: Encoder = generate_latest) -> None:
        """Render the lines of every channel whose judgement changed since the last call (of
        every channel held, when the held set changed)."""
        with self._lock:
            lines = self._lines_for(encoder, _key(encoder))
            last, last_held = self._prepared
            held = self._held() if self._held is not None else None
            held_version = held[0] if held is not None else 0
            changed = None
            if self._changed is not None and held_version == last_held:
                changed = self._changed(last)
            if changed is None:  # no account of what changed: look at every channel
                version, judged = self._current()
                if (version, held_version) == self._prepared:
                    return
            else:
                version, judged = changed
            self._update(lines, _only(judged, held))
            self._prepared = (version, held_version)

    async def keep_prepared(self, every: float = 1.0) -> None:
        """``prepare`` every ``every`` seconds, off the event loop, until cancelled."""
        while True:
            try:
                await asyncio.to_thread(self.prepare)
            except Exception:
                log.exception("could not render the channels' series ahead of a scrape")
            await asyncio.sleep(every)

    def _lines_for(self, encoder: Encoder, key: tuple[object, ...]) -> _Lines:
        lines = self._lines.get(key)
        if lines is None:
            lines = self._lines[key] = _Lines(encoder)
        return lines

    def _update(
        self, lines: _Lines, judged: Sequence[tuple[int, ChannelView]]
    ) -> list[tuple[bytes, ...]]:
        """Every channel's lines, rendered again where what they show changed."""
        rendered = self._rendered.setdefault(lines.signature, {})
        per_channel: list[tuple[bytes, ...]] = []
        for channel_id, view in judged:
            kept = rendered.get(channel_id)
            if kept is not None and kept[0] is view:
                per_channel.append(kept[2])
                continue
            try:  # one channel's odd data never costs the others their series
                shown = Shown.of(view)
                chunks = None
                if kept is not None:
                    before, chunks = kept[1], kept[2]
                    if before != shown:
                        chunks = lines.polled_again(view.settings, before, chunks, shown)
                chunks = chunks or lines.render(view.settings, shown)
            except Exception:
                log.exception("channel %s left out of /metrics", view.handle)
                continue
            rendered[channel_id] = (view, shown, chunks)
            per_channel.append(chunks)
        return per_channel


def _only(
    judged: Sequence[tuple[int, ChannelView]], held: tuple[int, AbstractSet[int]] | None
) -> Sequence[tuple[int, ChannelView]]:
    """Of ``judged``, the channels held (every one, without a held set)."""
    if held is None:
        return judged
    return [(channel_id, view) for channel_id, view in judged if channel_id in held[1]]


def _key(encoder: Encoder) -> tuple[object, ...]:
    """An encoder, as a key: ``choose_encoder`` makes a new one for every request."""
    return (
        getattr(encoder, "func", encoder),
        tuple(sorted(getattr(encoder, "keywords", {}).items())),
    )


def _headers(encoder: Encoder, families: Sequence[Metric]) -> bytes:
    """``families`` as ``encoder`` writes them alone (for an empty one: its HELP and TYPE)."""
    text = encoder(_Metrics(families))
    return text[: -len(_EOF)] if text.endswith(_EOF) else text
