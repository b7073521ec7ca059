"""GraphiQL served from execgate itself: no CDN at run time.

Strawberry's GraphiQL page loads its scripts and stylesheets from a CDN, each pinned to a
version and to a Subresource Integrity hash (``integrity="sha384-…"``). execgate serves the
same files from its own package (``execgate/static/graphiql/<package>@<version>/<path>``, put
there by ``scripts/vendor_graphiql.py`` from the npm registry's tarballs) at
``/graphiql/<package>@<version>/<path>``, and the page is strawberry's with each CDN address
replaced by that path — the integrity attributes stay strawberry's, so the browser refuses any
byte that differs from what strawberry pinned.

``offline_page`` checks the same thing on the server, once: every asset the page names must be
in the package with the sha384 the page states. When one is missing or differs, GraphiQL is
not served (``OfflineAssetsMissing``): a page that would wait for a CDN forever is worse than
a clear answer.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

ASSET_ROUTE = "/graphiql"
"""Where the assets are served."""
CDN = "https://unpkg.com/"
_TAG = re.compile(r"<(?:script|link)\b[^>]*>")
_URL = re.compile(r'(?:src|href)="([^"]+)"')
_SRI = re.compile(r'integrity="(sha384-[^"]+)"')


@dataclass(frozen=True, slots=True)
class Asset:
    path: str
    """``<package>@<version>/<file>``, as the CDN address has it."""
    integrity: str
    """The page's ``sha384-…``."""


class OfflineAssetsMissing(Exception):
    """The page names an asset execgate does not hold as pinned (the message says which)."""


def asset_root() -> Path:
    """The directory the vendored assets are in."""
    return Path(str(resources.files("execgate"))) / "static" / "graphiql"


def assets(page: str) -> list[Asset]:
    """Every CDN script and stylesheet ``page`` loads, with its integrity hash. A CDN address
    without one, or anywhere but a tag's ``src``/``href``, is an error: it could not be
    checked, or would not be replaced."""
    found = []
    for tag in _TAG.findall(page):
        url = _URL.search(tag)
        if url is None or not url.group(1).startswith(CDN):
            continue
        sri = _SRI.search(tag)
        if sri is None:
            raise OfflineAssetsMissing(f"the GraphiQL page loads {url.group(1)} unchecked")
        found.append(Asset(url.group(1).removeprefix(CDN), sri.group(1)))
    if page.count(CDN) != len(found):
        raise OfflineAssetsMissing("the GraphiQL page names a CDN address outside its tags")
    return found


def sri_of(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


@functools.lru_cache(maxsize=4)
def offline_page(page: str, root: Path | None = None) -> str:
    """``page`` loading every asset from ``ASSET_ROUTE``, after checking each one's bytes
    (once per page and directory: about 4 MB are hashed)."""
    root = root or asset_root()
    for asset in assets(page):
        file = root / asset.path
        if not file.is_file():
            raise OfflineAssetsMissing(
                f"GraphiQL asset {asset.path} is not in the package (run "
                "scripts/vendor_graphiql.py and reinstall)"
            )
        if sri_of(file.read_bytes()) != asset.integrity:
            raise OfflineAssetsMissing(
                f"GraphiQL asset {asset.path} differs from the version the page pins"
            )
    return page.replace(CDN, ASSET_ROUTE + "/")
