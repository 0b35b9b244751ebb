"""Where ext-harness keeps per-user state outside any project: one rule for every folder.

The compile cache and the build toolchains both live under one per-user root, so both must agree
on it, including when there is no home directory (some CI sandboxes). The no-home fallback is a
predictable name in the shared temp folder, so whoever uses a folder from here checks its owner and
mode before trusting what is in it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["user_cache_dir"]


def user_cache_dir(explicit_env: str, *parts: str) -> Path:
    """`$<explicit_env>`, else `$XDG_CACHE_HOME/ext-harness/<parts>`, else `~/.cache/ext-harness/<parts>`.

    Without a home directory: `<tempdir>/ext-harness-cache-<uid>/<parts>`.
    """
    explicit = os.environ.get(explicit_env)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser().joinpath("ext-harness", *parts)
    try:
        return Path.home().joinpath(".cache", "ext-harness", *parts)
    except RuntimeError:  # no home directory
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        return Path(tempfile.gettempdir()).joinpath(f"ext-harness-cache-{uid}", *parts)
