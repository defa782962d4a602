"""``/metrics`` without judging or rendering what did not change.

The per-channel series make up nearly all of a scrape (3 kB a channel). Each channel's lines
are rendered once for what they show (``metrics.Shown``) and kept, joined with the lines of
the same family of the channels next to it: a family's lines are kept in pages of ``PAGE``
channels, and a channel whose lines change has them spliced into its pages. A scrape sends
the families' headers and their pages one after the other (at 100,000 channels 25,000 pieces
of some 250 MB, never joined; kept line by line they were 1.6 million). The daemon's own
instruments are small and rendered at every scrape by prometheus_client as usual. Lines are
written as prometheus_client writes them (sorted labels, escaped values, Go float format), and
a test holds the two to the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from array import array
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
_NONE = tuple(b"" for _ in CHANNEL_FAMILIES)  # the lines of a channel left out
PAGE = 64  # channels whose lines of a family are kept joined


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
        self, settings: ChannelSettings, before: Shown, shown: Shown
    ) -> list[tuple[int, bytes]] | None:
        """The lines that change from ``before`` to ``shown`` (family, lines), when all that
        moved is the last poll and the last success, as after every unchanged poll: their two
        lines are rendered again, the others kept. None when more changed."""
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
        return [
            (index, self._line(index, labels, at.timestamp()).encode())
            for index, at in ((_LAST_POLL, polled), (_LAST_SUCCESS, succeeded))
        ]

    def _line(self, index: int, values: Sequence[str], value: float) -> str:
        labels = ",".join(
            f'{label}="{_label_value(values[at])}"' for at, label in self.orders[index]
        )
        number = floatToGoString(value)  # type: ignore[no-untyped-call]
        return f"{self.names[index]}{{{labels}}} {number}\n"


class _Pages:
    """The lines of the channels exported, in configuration order: each family's lines joined
    ``page`` channels at a time, with where each channel's lines end in its page. Changed lines
    wait until ``flush``, which joins each page they fall in once (in a first round, the
    channels read in one second are mostly neighbours)."""

    def __init__(self, lines: _Lines, judged: Sequence[tuple[int, ChannelView]], page: int) -> None:
        self.lines = lines
        self.page = page
        self.ids = [channel_id for channel_id, _ in judged]
        self.where = {channel_id: at for at, channel_id in enumerate(self.ids)}
        self.views: list[ChannelView | None] = [None] * len(self.ids)  # as rendered
        self.left_out: set[int] = set()  # positions whose lines could not be written
        self.blobs: list[list[bytes]] = [[] for _ in CHANNEL_FAMILIES]  # by family, by page
        self.ends = [array("I") for _ in CHANNEL_FAMILIES]  # by family, by position
        self._pending: dict[tuple[int, int], dict[int, bytes]] = {}  # (family, page): lines
        for first in range(0, len(judged), page):
            rendered = [
                self._render(at, view)
                for at, (_, view) in enumerate(judged[first : first + page], first)
            ]
            for family, (blobs, ends) in enumerate(zip(self.blobs, self.ends, strict=True)):
                end = 0
                for chunks in rendered:
                    end += len(chunks[family])
                    ends.append(end)
                blobs.append(b"".join(chunks[family] for chunks in rendered))

    def pieces(self, family: int) -> list[bytes]:
        """The family's pages, with every change so far spliced in."""
        self.flush()
        return self.blobs[family]

    def update(self, position: int, view: ChannelView) -> None:
        """Make the channel at ``position`` show ``view``: its lines written again where what
        they show changed, and spliced into their pages."""
        old = self.views[position]
        if old is view:
            return
        self.views[position] = view
        try:  # one channel's odd data never costs the others their series
            shown = Shown.of(view)
            changes: Sequence[tuple[int, bytes]] | None = None
            if old is not None and old.settings is view.settings and position not in self.left_out:
                before = Shown.of(old)
                if before == shown:
                    return
                changes = self.lines.polled_again(view.settings, before, shown)
            if changes is None:
                changes = list(enumerate(self.lines.render(view.settings, shown)))
            self.left_out.discard(position)
        except Exception:
            log.exception("channel %s left out of /metrics", view.handle)
            self.left_out.add(position)
            changes = list(enumerate(_NONE))
        page = position // self.page
        for family, chunk in changes:
            self._pending.setdefault((family, page), {})[position] = chunk

    def flush(self) -> None:
        """Splice the changed lines into their pages, each page joined once."""
        for (family, page), changes in self._pending.items():
            self._splice(family, page, changes)
        self._pending.clear()

    def _render(self, position: int, view: ChannelView) -> tuple[bytes, ...]:
        self.views[position] = view
        try:
            return self.lines.render(view.settings, Shown.of(view))
        except Exception:
            log.exception("channel %s left out of /metrics", view.handle)
            self.left_out.add(position)
            return _NONE

    def _splice(self, family: int, page: int, changes: dict[int, bytes]) -> None:
        ends = self.ends[family]
        first = page * self.page
        last = min(first + self.page, len(ends))
        blob = self.blobs[family][page]
        parts: list[bytes] = []
        moved: dict[int, int] = {}  # by position: how much longer its lines became
        cursor = 0
        for position in sorted(changes):
            start = ends[position - 1] if position > first else 0
            chunk = changes[position]
            parts += (blob[cursor:start], chunk)
            moved[position] = len(chunk) - (ends[position] - start)
            cursor = ends[position]
        parts.append(blob[cursor:])
        self.blobs[family][page] = b"".join(parts)
        shift = 0
        for position in range(min(changes), last):
            shift += moved.get(position, 0)
            ends[position] += shift


class ChannelExposition:
    """The per-channel part of ``/metrics``, kept between scrapes (thread-safe).

    ``prepare`` renders what changed ahead of the scrape (the daemon calls it every second), so
    a scrape mostly sends kept pages; formats whose lines are the same share them. With
    ``held``, only the channels it names are exported (those this replica polls: each channel's
    series come from one replica), and the pages are made anew when that set changes.
    """

    def __init__(
        self,
        current: Current,
        changed: Changed | None = None,
        held: Held | None = None,
        *,
        page: int = PAGE,
    ) -> None:
        self._current = current
        self._changed = changed
        self._held = held
        self._page = page
        self._lock = threading.Lock()
        self._lines: dict[tuple[object, ...], _Lines] = {}  # by encoder
        self._pages: dict[tuple[object, ...], _Pages] = {}  # by ``_Lines.signature``
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
        """``channels`` in pieces: each family's header and its pages of lines, as kept."""
        with self._lock:
            _, judged = self._current()
            held = self._held() if self._held is not None else None
            pages = self._update(self._lines_for(encoder, _key(encoder)), _only(judged, held))
            parts = [_headers(encoder, [build_info()])]
            for index, family in enumerate(channel_families().values()):
                parts.append(_headers(encoder, [family]))
                parts.extend(pages.pieces(index))
            return tuple(parts)

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
            pages = self._pages.get(lines.signature)
            if changed is not None and pages is not None:
                version, judged = changed
                news = _only(judged, held)
                if all(channel_id in pages.where for channel_id, _ in news):
                    for channel_id, view in news:
                        pages.update(pages.where[channel_id], view)
                    pages.flush()
                    self._prepared = (version, held_version)
                    return
            # no account of what changed, or a channel new to the pages: look at every channel
            version, judged = self._current()
            if (version, held_version) == self._prepared:
                return
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

    def _update(self, lines: _Lines, judged: Sequence[tuple[int, ChannelView]]) -> _Pages:
        """The pages of ``judged``: kept and brought up to date, or made anew when the
        channels exported are others."""
        pages = self._pages.get(lines.signature)
        if pages is None or pages.ids != [channel_id for channel_id, _ in judged]:
            pages = self._pages[lines.signature] = _Pages(lines, judged, self._page)
            return pages
        for position, (_, view) in enumerate(judged):
            pages.update(position, view)
        pages.flush()
        return pages


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
