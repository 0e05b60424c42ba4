"""The cache of decoded pixels: bounded in bytes, least recently used dropped first,
arrays handed out read-only; the one-thread variant the pyramid workers use behaves
the same."""

from __future__ import annotations

import numpy as np
import pytest

from tiler.decoded_cache import DecodedCache, OneThreadCache


@pytest.mark.parametrize("kind", [DecodedCache, OneThreadCache])
def test_bounded_least_recently_used_read_only(kind: type[DecodedCache]) -> None:
    cache = kind(max_bytes=3 * 100)
    made: list[str] = []

    def make(name: str) -> np.ndarray:
        made.append(name)
        return np.zeros(100, np.uint8)

    for name in ("a", "b", "c"):
        cache.get(name, lambda name=name: make(name))
    cache.get("a", lambda: make("a"))  # a hit: "a" is now the most recent
    cache.get("d", lambda: make("d"))  # drops "b", the least recently used
    assert cache.bytes == 300
    cache.get("a", lambda: make("a"))
    cache.get("b", lambda: make("b"))
    assert made == ["a", "b", "c", "d", "b"]
    value = cache.get("a", lambda: make("a"))
    assert not value.flags.writeable
    # Larger than the whole bound: handed out, never kept.
    big = cache.get("big", lambda: np.zeros(400, np.uint8))
    assert big.nbytes == 400 and cache.bytes <= 300
