"""The labeling page in a real headless Chromium against a real ``knn-al serve --http-port``
(see :mod:`tests.page_helpers`); what the page did is checked over gRPC, not in the page.

A missing browser FAILS (it never skips): run ``scripts/install_browser.sh``.
Screenshots go to ``$KNN_AL_ARTIFACTS`` (default: the test's tmp dir).
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors
# The fixtures browser and server are imported for pytest to find them.
from tests.page_helpers import (BUDGET, PROJECT, WAIT, Page, artifacts_dir, bbc_items, browser, server,  # noqa: F401
                                topic_of)

def test_label_by_keyboard_undo_skip_search_and_budget(server: ServerProcess, browser: WebDriver,
                                                        tmp_path: Path) -> None:
    page = Page(browser)
    artifacts = artifacts_dir(tmp_path)
    browser.get(server.http_url + "/")
    client = server.client()
    try:
        # Choose the annotator (the only project is preselected) and start, by keyboard.
        page.wait.until(lambda d: d.execute_script("return document.getElementById('project').value") == PROJECT)
        browser.find_element(By.ID, "annotator").send_keys("ann", Keys.ENTER)
        item = page.next_item(other_than="")

        # 20 labels by keyboard, each the item's true topic but the 12th: a mistake to find later.
        given: dict[str, str] = {}
        keys, mistake = [], ""
        for n in range(20):
            if n == 11:
                mistake = item
                given[item] = next((t for t in given.values() if t != topic_of(item)), "other")
            else:
                given[item] = topic_of(item)
            keys.append(page.label(given[item]))
            item = page.next_item(other_than=item)
        assert {"typed", "enter"} <= set(keys), f"the loop should type new labels and accept predictions: {keys}"
        assert client.export_labels(PROJECT) == given
        page.screenshot(artifacts / "labeling_page.png")

        # Each label painted the next item without waiting for the server: it was prefetched.
        paints = browser.execute_script("return performance.getEntriesByName('knn-al:key-to-paint')"
                                        ".map(e => [e.duration, e.detail.prefetched])")
        assert len(paints) == 20 and all(prefetched for _, prefetched in paints), paints
        assert statistics.median(ms for ms, _ in paints) < 100, f"key-to-paint times (ms): {paints}"

        # Undo: the last label is removed, and its item is on screen again, to be relabeled,
        # leased to the annotator (nobody else is handed it meanwhile).
        last = list(given)[-1]
        page.press("u")
        page.wait.until(lambda d: page.item() == last)
        page.idle()
        del given[last]
        assert client.export_labels(PROJECT) == given
        assert "back from undo" in page.text("item-heading")
        undone = client.items(PROJECT, [last])[0]
        assert (undone.state, undone.lease_annotator) == ("leased", "ann")
        page.label(topic_of(last))
        given[last] = topic_of(last)
        item = page.next_item(other_than=last)
        assert client.export_labels(PROJECT) == given

        # Skip: the item is skipped, not labeled, and another one is shown.
        skipped = item
        page.press("s")
        item = page.next_item(other_than=skipped)
        assert client.stats(PROJECT).skipped == 1
        assert skipped not in client.export_labels(PROJECT)

        # "More like this": the search view lists the item's nearest unlabeled neighbours.
        page.press("m")
        page.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li.row"))
        hits = [h.text.split(" ")[0] for h in browser.find_elements(
            By.CSS_SELECTOR, "#search-results li.row .facts strong")]
        assert hits == [h.id for h in client.search(PROJECT, item_id=item, limit=20, unlabeled_only=True)]
        assert sum(topic_of(h) == topic_of(item) for h in hits[:5]) >= 3, (item, hits)
        assert item not in hits and not set(hits) & set(given), "unlabeled only: no labeled item among the hits"
        page.press(Keys.ARROW_LEFT)  # back to the Label tab
        page.press(Keys.ESCAPE)  # focus on the item
        assert not browser.find_element(By.ID, "view-label").get_attribute("hidden")

        # Label on until the budget is spent: the banner says so and no item is handed out.
        for _ in range(BUDGET):
            if not page.item():
                break
            given[item] = topic_of(item)
            page.label(topic_of(item))
            page.wait.until(lambda d: page.item() not in given)  # the next item, or none
            page.idle()
            item = page.item()
        assert "Label budget spent" in page.text("banner")
        assert browser.find_element(By.ID, "banner").is_displayed()
        assert page.text("item-heading") == "Nothing to label"
        assert client.export_labels(PROJECT) == given and len(given) == BUDGET
        assert client.stats(PROJECT).progress.stop_reason == "budget_reached"

        # The mistake is among the suspicious labels, its neighbours' label offered: Enter relabels it.
        browser.find_element(By.ID, "tab-suspicious").click()
        form = page.wait.until(lambda d: [row for row in d.find_elements(By.CSS_SELECTOR, "#suspicious-list li.row")
                                          if row.find_element(By.CSS_SELECTOR, ".facts strong").text == mistake])
        field = form[0].find_element(By.CSS_SELECTOR, "form input")
        assert field.get_attribute("value") == topic_of(mistake)
        field.send_keys(Keys.ENTER)
        page.wait.until(lambda d: client.export_labels(PROJECT)[mistake] == topic_of(mistake))
    finally:
        page.screenshot(artifacts / "labeling_page_end.png")
        client.close()


def test_token_asked_on_401_then_kept(tmp_path: Path, serve: Callable[..., ServerProcess],
                                      browser: WebDriver) -> None:
    """With a token on the server, the page asks for it when the API answers 401, works with
    it, and remembers it (localStorage) for the next visit."""
    server = serve(tmp_path / "data", "--http-port", "0", "--token", "s3cret")
    ids, vectors, metadata = bbc_items(20)
    with server.client(token="s3cret") as client:
        client.create_project(PROJECT, dimension=vectors.shape[1])
        client.add_items(PROJECT, ids, vectors, metadata)
    page = Page(browser)
    browser.get(server.http_url + "/")
    page.wait.until(lambda d: d.find_element(By.ID, "token-field").is_displayed())
    assert "token" in page.text("error-text") and browser.find_element(By.ID, "error").is_displayed()

    browser.find_element(By.ID, "annotator").send_keys("ann")
    browser.find_element(By.ID, "token").send_keys("s3cret", Keys.ENTER)
    item = page.next_item(other_than="")
    assert item in ids and not browser.find_element(By.ID, "error").is_displayed()

    browser.refresh()
    page.wait.until(lambda d: d.execute_script("return document.getElementById('project').value") == PROJECT)
    assert browser.find_element(By.ID, "token").get_attribute("value") == "s3cret"


def test_image_items_show_zoom_thumbnails_and_release_on_leaving(tmp_path: Path, serve: Callable[..., ServerProcess],
                                              browser: WebDriver) -> None:
    """Items whose metadata "source" is an image under a --media-root show as that image,
    zoom with z (Escape closes), and the neighbours behind a prediction as thumbnails;
    leaving the page releases the items it held."""
    from PIL import Image

    media = tmp_path / "images"
    media.mkdir()
    _, vectors, cluster = clustered_vectors(12, 16, clusters=2, seed=5)
    ids, metadata = [], []
    for i, c in enumerate(cluster.tolist()):
        path = media / f"{i:02d}.png"
        Image.new("RGB", (64, 48), ((200, 40, 40), (40, 40, 200))[c]).save(path)
        ids.append(f"{('red', 'blue')[c]}/{i:02d}")
        metadata.append({"source": str(path)})
    server = serve(tmp_path / "data", "--http-port", "0", "--media-root", str(media))
    with server.client() as client:
        client.create_project("images", dimension=16)
        client.add_items("images", ids, vectors, metadata)
        page = Page(browser)
        browser.get(server.http_url + "/?project=images&annotator=ann")
        first = page.next_item(other_than="")
        page.wait.until(lambda d: d.execute_script(
            "const img = document.querySelector('#item-body img'); return img && img.complete && img.naturalWidth === 64"))
        page.press("z")
        page.wait.until(lambda d: d.execute_script("return document.getElementById('zoom').open"))
        assert browser.execute_script("return document.getElementById('zoom-img').naturalHeight") == 48
        page.press(Keys.ESCAPE)
        page.wait.until(lambda d: not d.execute_script("return document.getElementById('zoom').open"))

        page.press("n")
        page.press(first.split("/")[0], Keys.ENTER)
        page.next_item(other_than=first)
        page.wait.until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('#why img.thumb')].some(i => i.complete && i.naturalWidth === 64)"))

        # Leaving the page releases the items it held (leases of 10 minutes: none expires here).
        assert client.stats("images").leased == 2
        browser.get("about:blank")
        page.wait.until(lambda d: client.stats("images").leased == 0)


def test_leases_renewed_while_the_items_are_held(tmp_path: Path, serve: Callable[..., ServerProcess],
                                                 browser: WebDriver) -> None:
    """The items the page holds (on screen, prefetched, and back from an undo) stay leased
    to the annotator past their lease length while the page is open."""
    server = serve(tmp_path / "data", "--http-port", "0")
    ids, vectors, metadata = bbc_items(20)
    with server.client() as client:
        client.create_project(PROJECT, dimension=vectors.shape[1], lease_seconds=1.5)
        client.add_items(PROJECT, ids, vectors, metadata)
        page = Page(browser)
        browser.get(f"{server.http_url}/?project={PROJECT}&annotator=ann")
        shown = page.next_item(other_than="")
        page.label(topic_of(shown))
        page.next_item(other_than=shown)
        page.press("u")
        page.wait.until(lambda d: page.item() == shown)
        page.idle()
        time.sleep(4)  # more than two lease lengths
        held = client.list_items(PROJECT, state="leased").items
        assert shown in [item.id for item in held] and len(held) == 3, held
        assert all(item.lease_annotator == "ann" and item.lease_expires_at > time.time() for item in held), held


def test_an_undo_of_a_label_someone_changed_since_is_refused_and_theirs_stays(
        tmp_path: Path, serve: Callable[..., ServerProcess], browser: WebDriver) -> None:
    """An undo of a label another annotator has replaced since (here over gRPC) is refused
    by the server: their label stays, the item is not leased back, the item on screen stays,
    and the page shows the server's message."""
    server = serve(tmp_path / "data", "--http-port", "0")
    ids, vectors, metadata = bbc_items(20)
    with server.client() as client:
        client.create_project(PROJECT, dimension=vectors.shape[1])
        client.add_items(PROJECT, ids, vectors, metadata)
        page = Page(browser)
        browser.get(f"{server.http_url}/?project={PROJECT}&annotator=ann")
        first = page.next_item(other_than="")
        page.label(topic_of(first))
        shown = page.next_item(other_than=first)
        client.submit_label(PROJECT, first, "corrected", annotator="bob")
        page.press("u")
        page.wait.until(lambda d: d.find_element(By.ID, "error").is_displayed())
        page.idle()
        assert f"item '{first}' is labeled 'corrected' by 'bob', not labeled '{topic_of(first)}'" in page.text(
            "error-text")
        assert "Not undone" in page.text("status")
        assert client.export_labels(PROJECT) == {first: "corrected"}
        (item,) = client.items(PROJECT, [first])
        assert (item.state, item.lease_annotator) == ("labeled", "")
        assert page.item() == shown

        # The recent-labels view undoes the label it lists, only while it is still the item's.
        browser.find_element(By.ID, "tab-recent").click()
        page.idle()  # the list of ann's labels (none now) loaded: it cannot replace everyone's below
        browser.find_element(By.ID, "recent-mine").click()  # everyone's labels
        reloading = WebDriverWait(browser, WAIT, ignored_exceptions=(StaleElementReferenceException,))

        def listed(label: str) -> Any:
            rows = [row for row in browser.find_elements(By.CSS_SELECTOR, "#recent-list li.row")
                    if row.find_element(By.CSS_SELECTOR, ".facts strong").text == first]
            return rows[0] if rows and f" {label} · by bob" in rows[0].text else None

        row = reloading.until(lambda d: listed("corrected"))
        client.submit_label(PROJECT, first, "again", annotator="bob")  # the list is stale now
        row.find_element(By.XPATH, ".//button[text()='Undo']").click()
        page.wait.until(lambda d: "labeled 'again' by 'bob', not labeled 'corrected'" in page.text("error-text"))
        page.idle()
        assert client.export_labels(PROJECT) == {first: "again"} and listed("corrected") is not None

        browser.find_element(By.CSS_SELECTOR, "#view-recent button.refresh").click()
        reloading.until(lambda d: listed("again")).find_element(By.XPATH, ".//button[text()='Undo']").click()
        page.wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#recent-list li.row"))
        page.idle()
        assert client.export_labels(PROJECT) == {}
        (item,) = client.items(PROJECT, [first])
        assert (item.state, item.lease_annotator) == ("leased", "ann")
        assert page.item() == first  # back on the Label tab's screen, to be labeled again
