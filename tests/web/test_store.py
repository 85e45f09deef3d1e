"""The upload store drops the least recently used image beyond its count or byte limit."""

import numpy as np

from deconvkit.web.store import ImageStore


def test_least_recently_used_goes_first():
    store = ImageStore(max_images=2, max_bytes=10**9)
    a, b = store.put(np.zeros(4), "a"), store.put(np.zeros(4), "b")
    assert store.get(a.id) is a  # a is now the most recently used
    c = store.put(np.zeros(4), "c")
    assert store.get(b.id) is None and store.get(a.id) is a and store.get(c.id) is c


def test_byte_limit_keeps_at_least_the_newest():
    store = ImageStore(max_images=10, max_bytes=100)
    first = store.put(np.zeros(10), "a")  # 80 bytes
    second = store.put(np.zeros(10), "b")
    assert store.get(first.id) is None and store.get(second.id) is second
    huge = store.put(np.zeros(1000), "c")  # over the limit alone: still kept, the upload just made
    assert len(store) == 1 and store.get(huge.id) is huge
