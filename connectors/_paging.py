"""Reading a newest-first listing page by page, within a page budget and across polls.

Shared by every API connector. One poll reads at most ``page_limit`` pages: ``walk`` reads until
a page reaches the bound (holds something at or before ``since``), the listing ends, or the
budget is spent, and then ``pending`` is where it stopped. That position and the bound it was
reading to are kept in ``Checkpoint.extra`` as a ``Resume`` and read on a later poll, so a long
backlog is caught up over several polls without a gap. Nothing here does I/O: pages come from
the platform module's own reader.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.base import RESUME_KEY, Checkpoint, FetchResult, Post, Profile, unique_posts
from connectors.errors import Malformed

RESUME_KEYS = (RESUME_KEY, "resume_since")  # what a ``Resume`` occupies in ``Checkpoint.extra``


@dataclass
class Page:
    """One page of posts, and how to ask for the next one (None at the end)."""

    posts: list[Post]
    next: str | None
    order: list[datetime] | None = None  # the times the listing is sorted by; None: the posts'

    def reaches(self, bound: datetime) -> bool:
        """Whether the page holds anything at or before ``bound``: older pages are not needed."""
        if self.order is None:
            return any(p.published_at is not None and p.published_at <= bound for p in self.posts)
        return any(t <= bound for t in self.order)


@dataclass
class Walk:
    """Posts read from consecutive pages; ``pending`` is where reading stopped early."""

    posts: list[Post] = field(default_factory=list)
    pages: int = 0
    pending: str | None = None


async def walk(
    first: Page,
    more: Callable[[str], Awaitable[Page]],
    *,
    bound: datetime | None,
    budget: int,
) -> Walk:
    """Read pages newest first until one reaches ``bound``, the end, or the budget.

    ``first`` counts as one page. Only a missing ``next`` ends the listing: short and empty
    pages do not. Posts older than ``bound`` are dropped (a listing may be ordered by another
    time than the one a post is dated by).
    """
    result = Walk()
    page = first
    while True:
        result.pages += 1
        result.posts.extend(p for p in page.posts if _on_or_after(p, bound))
        reached = bound is not None and page.reaches(bound)
        if reached or page.next is None:
            return result
        if result.pages >= budget:
            result.pending = page.next
            return result
        page = await more(page.next)


def _on_or_after(post: Post, bound: datetime | None) -> bool:
    return bound is None or post.published_at is None or post.published_at >= bound


@dataclass(frozen=True)
class Resume:
    """Where the previous poll stopped early: a position, and the ``since`` bound it read to."""

    position: str
    bound: datetime | None  # read back to here; None: to the oldest post

    @classmethod
    def from_extra(cls, extra: Mapping[str, str]) -> Resume | None:
        position = extra.get(RESUME_KEY)
        if not position:
            return None
        return cls(position, from_unix(extra.get("resume_since")))

    def to_extra(self) -> dict[str, str]:
        extra = {RESUME_KEY: self.position}
        if self.bound is not None:
            extra["resume_since"] = unix(self.bound)
        return extra


def resume_extra(resume: Resume | None) -> dict[str, str]:
    """The checkpoint entries of ``resume``; none when there is nothing to pick up."""
    return resume.to_extra() if resume else {}


async def catch_up(
    read: Callable[[str | None, int], Awaitable[Page]],
    *,
    since: datetime | None,
    previous: Resume | None,
    budget: int,
    full_size: int,
    head_size: int,
    give_up_unreadable_gap: bool = False,
) -> tuple[tuple[Post, ...], Resume | None]:
    """Read the posts at or after ``since``, then the gap an earlier poll left open, if any.

    ``read(position, size)`` reads one page (``position`` None: the newest). New posts come
    first, in pages of ``head_size`` when ``since`` is known (they rarely fill a page), else
    ``full_size``. When they overflow the budget, the open gap is merged into the next resume
    (reading a little twice is cheaper than losing posts). Otherwise the gap gets what is left
    of the budget, and at least one page, in pages of ``full_size``. With
    ``give_up_unreadable_gap`` a ``Malformed`` while reading the gap (a cursor the server no
    longer takes) closes the gap instead of failing. Each post is returned once: pages overlap
    while new posts arrive.
    """
    size = head_size if since is not None else full_size
    head = await _walk_from(read, None, size, bound=since, budget=budget)
    posts = head.posts
    if head.pending is not None:
        bound = since if previous is None else wider_bound(previous.bound, since)
        resume: Resume | None = Resume(head.pending, bound)
    elif previous is not None:  # the gap gets a page even when the head used the budget
        left = max(1, budget - head.pages)
        try:
            rest = await _walk_from(
                read, previous.position, full_size, bound=previous.bound, budget=left
            )
        except Malformed:
            if not give_up_unreadable_gap:
                raise
            rest = Walk()
        posts = posts + rest.posts
        resume = Resume(rest.pending, previous.bound) if rest.pending else None
    else:
        resume = None
    return unique_posts(posts), resume


async def _walk_from(
    read: Callable[[str | None, int], Awaitable[Page]],
    position: str | None,
    size: int,
    *,
    bound: datetime | None,
    budget: int,
) -> Walk:
    async def more(at: str) -> Page:
        return await read(at, size)

    return await walk(await read(position, size), more, bound=bound, budget=budget)


def unchanged(
    profile: Profile | None, extra: Mapping[str, str], quota_used_ratio: float | None
) -> FetchResult:
    """A poll that ended at the probe: nothing moved since ``extra`` was written; keep it."""
    return FetchResult(
        profile=profile,
        checkpoint=Checkpoint(extra=dict(extra)),
        not_modified=True,
        quota_used_ratio=quota_used_ratio,
    )


def wider_bound(a: datetime | None, b: datetime | None) -> datetime | None:
    """The bound covering both ranges (None means all the way back)."""
    if a is None or b is None:
        return None
    return min(a, b)


def unix(value: datetime) -> str:
    """A datetime as whole unix seconds, the way checkpoints (and Graph's ``since``) hold it."""
    return str(int(value.timestamp()))


def from_unix(value: str | None) -> datetime | None:
    """The inverse of ``unix``; None for a missing or unreadable value."""
    if value is None or not value.lstrip("-").isdigit():
        return None
    return datetime.fromtimestamp(int(value), UTC)
