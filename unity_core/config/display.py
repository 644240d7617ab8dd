"""Settings shown to people (`unity config show`, logs): plain data with secrets masked as ***."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from unity_core.config.schema import format_duration
from unity_core.config.settings import Settings

_SECRET_KEY = re.compile(r"password|passwd|secret|token|key", re.IGNORECASE)
_SECRET_QUERY = re.compile(r"([?&][^=&]*(?:password|secret|token|key)[^=&]*=)[^&]*", re.IGNORECASE)
MASK = "***"


def mask_url(text: str) -> str:
    """The URL with its password (and any secret-looking query value) replaced by ***."""
    masked = []
    for part in text.split(";"):  # sentinel:// lists several URLs
        scheme, separator, rest = part.partition("://")
        netloc, slash, tail = rest.partition("/")
        userinfo, at, hostport = netloc.rpartition("@")
        if separator and at and ":" in userinfo:
            part = f"{scheme}://{userinfo.partition(':')[0]}:{MASK}@{hostport}{slash}{tail}"
        masked.append(_SECRET_QUERY.sub(rf"\g<1>{MASK}", part))
    return ";".join(masked)


def mask_secrets(node: Any) -> Any:
    """A copy of a plain tree with secret-named keys and URL passwords replaced by ***."""
    if isinstance(node, dict):
        return {
            k: MASK if _SECRET_KEY.search(str(k)) and v not in (None, "") else mask_secrets(v)
            for k, v in node.items()
        }
    if isinstance(node, list | tuple):
        return [mask_secrets(v) for v in node]
    if isinstance(node, str) and "://" in node:
        return mask_url(node)
    return node


def settings_as_dict(settings: Settings, *, masked: bool = True) -> dict[str, Any]:
    """The effective settings as plain YAML/JSON data, durations as "30d"; secrets masked."""

    def plain(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: plain(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [plain(v) for v in node]
        if isinstance(node, timedelta):
            return format_duration(node)
        return str(node) if isinstance(node, Path) else node

    tree = plain(asdict(settings))
    tree.pop("source")
    return mask_secrets(tree) if masked else tree  # type: ignore[no-any-return]
