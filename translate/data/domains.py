"""What a user may name where a folder of images is expected (`--a`, `--input`, `--hr`, ...).

An existing folder, a built-in demo domain (`demo-day`), or a name from the data set catalog
(`shoes`, `horse:test`, `edges2shoes`): one resolver, used by training and by conversion alike.
"""

from __future__ import annotations

from pathlib import Path

from translate.data import catalog
from translate.data.demo import BUILTIN_DOMAINS, demo_domain
from translate.errors import DataError


def resolve_domain(value: str) -> Path:
    """A domain given by the user: an existing folder, a built-in domain, or a catalog name
    ("shoes", "horse", "edges2shoes", ...: see translate.data.catalog and `translate datasets list`)."""
    path = Path(value).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise DataError(f"domain '{value}' is a file; give a folder of images or a built-in domain")
    if value in BUILTIN_DOMAINS:
        return demo_domain(value)
    found = catalog.resolve(value)  # raises a one-line DataError when known but not downloaded
    if found is not None:
        return found
    close = catalog.close_names(value, BUILTIN_DOMAINS)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; see `translate datasets list`"
    raise DataError(
        f"unknown domain '{value}': no such folder, not a built-in domain ({', '.join(BUILTIN_DOMAINS)}) "
        f"and not a catalog name{hint}"
    )
