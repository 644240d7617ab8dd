"""Series identity: the stable key of (plugin, metric, tag set) that deduplicates samples."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Tags as a sorted dict of strings, so {'b': 1, 'a': 'x'} and {'a': 'x', 'b': '1'} agree."""
    if not tags:
        return {}
    return {str(k): str(v) for k, v in sorted(tags.items(), key=lambda kv: str(kv[0]))}


def series_key(plugin_id: str, metric_name: str, tags: Mapping[str, Any] | None) -> str:
    """32 hex characters identifying a series; equal inputs give equal keys on every host."""
    payload = json.dumps(
        [plugin_id, metric_name, canonical_tags(tags)], separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()
