"""Vendor GraphiQL's scripts and stylesheets into execgate's package, checked twice.

    .venv/bin/python scripts/vendor_graphiql.py          # write src/execgate/static/graphiql/
    .venv/bin/python scripts/vendor_graphiql.py --check  # only verify what is there

Run it when the installed strawberry's GraphiQL page pins other versions (the test
``tests/api/test_ide.py`` says so). For every CDN script and stylesheet that page loads (each
pinned as ``<package>@<version>/<file>`` with an ``integrity="sha384-…"`` hash):

1. ``npm pack <package>@<version>`` fetches the package's tarball from the npm registry; npm
   checks the tarball against the registry's own sha512 ``integrity`` before writing it;
2. the file is taken from the tarball and its sha384 compared with the page's ``integrity``
   (the hash strawberry pinned); a difference stops the script, and nothing is written.

The files land in ``src/execgate/static/graphiql/<package>@<version>/<file>``, committed with
the source, and ship as package data: at run time execgate loads nothing from a CDN. Needs
node's ``npm`` on PATH, and only here: installing or running execgate does not.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from strawberry.http.ides import get_graphql_ide_html  # noqa: E402

from execgate.api.ide import Asset, assets, sri_of  # noqa: E402

TARGET = REPO / "src" / "execgate" / "static" / "graphiql"


def _split(asset: Asset) -> tuple[str, str]:
    """``<package>@<version>`` and the file's path inside the package."""
    parts = asset.path.split("/")
    count = 2 if parts[0].startswith("@") else 1
    return "/".join(parts[:count]), "/".join(parts[count:])


def fetch(asset: Asset, npm: str, work: Path) -> bytes:
    spec, inner = _split(asset)
    done = subprocess.run(
        [npm, "pack", "--silent", spec],
        cwd=work,
        env={"npm_config_cache": str(work / "npm-cache"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        sys.exit(f"npm pack {spec} failed:\n{done.stderr}")
    tarball = work / done.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(f"package/{inner}")
        if member is None:
            sys.exit(f"{spec} has no file {inner}")
        return io.BytesIO(member.read()).getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the vendored files")
    args = parser.parse_args()
    wanted = assets(get_graphql_ide_html(graphql_ide="graphiql"))
    if args.check:
        bad = [
            a.path
            for a in wanted
            if not (TARGET / a.path).is_file()
            or sri_of((TARGET / a.path).read_bytes()) != a.integrity
        ]
        for path in bad:
            print(f"missing or different: {path}", file=sys.stderr)
        return 1 if bad else 0
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is not on PATH")
    fetched: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="execgate-graphiql-") as folder:
        for asset in wanted:
            content = fetch(asset, npm, Path(folder))
            if sri_of(content) != asset.integrity:
                sys.exit(f"{asset.path}: the registry's file does not match the pinned integrity")
            fetched[asset.path] = content
    if TARGET.exists():
        shutil.rmtree(TARGET)
    for path, content in fetched.items():
        (TARGET / path).parent.mkdir(parents=True, exist_ok=True)
        (TARGET / path).write_bytes(content)
        print(f"{path}: {len(content):,} bytes, integrity checked")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
