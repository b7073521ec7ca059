"""GraphiQL from execgate itself: the vendored assets, and a query run in headless Chromium
with no network but loopback."""

from __future__ import annotations

import dataclasses
import os
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from strawberry.http.ides import get_graphql_ide_html

from execgate.api.ide import (
    ASSET_ROUTE,
    OfflineAssetsMissing,
    asset_root,
    assets,
    offline_page,
    sri_of,
)
from execgate.app import create_app
from execgate.config import LiveSettings
from execgate.simulate.activity import Activity
from execgate.simulate.embedded import embedded, with_demo_client
from execgate.simulate.server import BackgroundServer

STRAWBERRY_PAGE = get_graphql_ide_html(graphql_ide="graphiql")
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def test_every_asset_strawberry_pins_is_vendored_with_its_integrity() -> None:
    pinned = assets(STRAWBERRY_PAGE)
    assert {a.path.split("/")[0] for a in pinned} >= {"react@18.2.0", "graphiql@3.8.3"}
    for asset in pinned:
        file = asset_root() / asset.path
        assert file.is_file(), f"{asset.path}: run scripts/vendor_graphiql.py"
        assert sri_of(file.read_bytes()) == asset.integrity, asset.path


def test_the_page_names_no_cdn_and_keeps_the_integrity_hashes() -> None:
    page = offline_page(STRAWBERRY_PAGE)
    assert "unpkg.com" not in page and "https://" not in page.split("<body>")[0]
    for asset in assets(STRAWBERRY_PAGE):
        assert f'"{ASSET_ROUTE}/{asset.path}"' in page
        assert asset.integrity in page


def test_a_missing_or_changed_asset_is_refused(tmp_path: Path) -> None:
    shutil.copytree(asset_root(), tmp_path / "assets")
    target = tmp_path / "assets" / assets(STRAWBERRY_PAGE)[0].path
    target.write_bytes(target.read_bytes() + b"\n// changed")
    with pytest.raises(OfflineAssetsMissing, match="differs from the version the page pins"):
        offline_page(STRAWBERRY_PAGE, tmp_path / "assets")
    target.unlink()
    with pytest.raises(OfflineAssetsMissing, match="is not in the package"):
        offline_page(STRAWBERRY_PAGE, tmp_path / "assets")
    unchecked = '<script src="https://unpkg.com/x@1/x.js"></script>'
    with pytest.raises(OfflineAssetsMissing, match="unchecked"):
        assets(unchecked)


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """The demo gateway on 127.0.0.1; its GraphiQL page carries the demo key."""
    demo = embedded(seed=7)
    settings, key = with_demo_client(demo.settings)
    app = create_app(
        settings, transports=demo.transports, ide_headers={"Authorization": f"Bearer {key}"}
    )
    with BackgroundServer(app) as server:
        yield server.base_url


def test_the_assets_are_served_as_pinned(gateway: str) -> None:
    page = httpx.get(gateway + "/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    for asset in assets(STRAWBERRY_PAGE):
        answer = httpx.get(f"{gateway}{ASSET_ROUTE}/{asset.path}")
        assert answer.status_code == 200, asset.path
        assert sri_of(answer.content) == asset.integrity
    assert httpx.get(f"{gateway}{ASSET_ROUTE}/../app.py").status_code == 404


def _chromium() -> str:
    for path in CHROMIUM:
        if Path(path).is_file():
            return path
    reason = "the GraphiQL browser test needs Debian's chromium (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)


def test_graphiql_runs_a_query_in_chromium_with_no_network_but_loopback(gateway: str) -> None:
    from playwright.sync_api import Route, sync_playwright

    executable = _chromium()
    elsewhere: list[str] = []

    def loopback_only(route: Route) -> None:
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    query = "query Names { instances { name kind } }"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<loopback>"],
        )
        try:
            page = browser.new_page()
            page.route("**/*", loopback_only)
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.goto(f"{gateway}/graphql?q={urllib.parse.quote(query)}")
            page.locator(".graphiql-execute-button").click(timeout=20_000)
            response = page.locator(".graphiql-response")
            response.filter(has_text="n8n-staging").wait_for(timeout=20_000)
            text = response.inner_text()
        finally:
            browser.close()
    assert '"name": "acme"' in text and '"kind": "TEAM"' in text
    assert '"name": "n8n-prod"' in text
    assert elsewhere == [] and failed == []


@pytest.fixture(scope="module")
def live_gateway() -> Iterator[str]:
    """The demo gateway with executions starting and finishing, polled every half second."""
    demo = embedded(seed=7)
    for number, store in enumerate(demo.stores.values()):
        Activity(2.0, seed=number).attach(store)
    settings, key = with_demo_client(demo.settings)
    settings = dataclasses.replace(settings, live=LiveSettings(poll_interval_seconds=0.5))
    app = create_app(
        settings, transports=demo.transports, ide_headers={"Authorization": f"Bearer {key}"}
    )
    with BackgroundServer(app) as server:
        yield server.base_url


def test_graphiql_runs_a_subscription_over_its_websocket_in_chromium(live_gateway: str) -> None:
    from playwright.sync_api import WebSocket, sync_playwright

    executable = _chromium()
    query = (
        "subscription Live { executionEvents { type execution { nativeId status "
        "instance { name } } } }"
    )
    sockets: list[str] = []
    frames: list[str] = []

    def watch(socket: WebSocket) -> None:
        sockets.append(socket.url)
        socket.on("framereceived", lambda payload: frames.append(str(payload)))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<loopback>"],
        )
        try:
            page = browser.new_page()
            page.on("websocket", watch)
            page.goto(f"{live_gateway}/graphql?q={urllib.parse.quote(query)}")
            page.locator(".graphiql-execute-button").click(timeout=20_000)
            response = page.locator(".graphiql-response")
            response.filter(has_text='"executionEvents"').wait_for(timeout=20_000)
            first = response.inner_text()
            # the pane shows each result pushed since: it changes while nothing is clicked
            for _ in range(200):
                page.wait_for_timeout(100)
                later = response.inner_text()
                if later != first and '"executionEvents"' in later:
                    break
            page.locator(".graphiql-execute-button").click()  # stops the subscription
        finally:
            browser.close()
    assert '"type"' in first and '"instance"' in first and '"errors"' not in first
    assert later != first, "no second result was pushed"
    assert [urllib.parse.urlsplit(url).path for url in sockets] == ["/graphql"]
    assert sockets[0].startswith("ws://127.0.0.1:")
    assert any('"connection_ack"' in frame for frame in frames)
    assert sum('"type":"next"' in frame for frame in frames) >= 2
