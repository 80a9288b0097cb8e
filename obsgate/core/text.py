"""Bounding text for one-line places (tables, reason lists, the verdict line) without cutting a word."""

from __future__ import annotations


def one_line(text: str, limit: int = 200) -> str:
    """The first line of `text`, at most `limit` characters, cut at a word boundary with "…".

    Only a single word longer than the limit is cut inside itself: there is no boundary to use.
    """
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(first) <= limit:
        return first
    cut = first[: limit - 1]
    space = cut.rfind(" ")
    if space > 0 and first[limit - 1] != " ":
        cut = cut[:space]
    return cut.rstrip(" ,;:-—(") + "…"
