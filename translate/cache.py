"""Where translate keeps what it downloads or generates: demo domains, data sets, weights.

Its own module because data, catalog, downloads and pretrained weights all need the location and
none of them should import another for it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$TRANSLATE_CACHE if set, else ~/.cache/translate."""
    configured = os.environ.get("TRANSLATE_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "translate"


def cache_subdir(env_var: str, name: str) -> Path:
    """$env_var if set (to keep large downloads elsewhere), else <translate cache>/name."""
    configured = os.environ.get(env_var)
    return Path(configured).expanduser() if configured else cache_dir() / name
