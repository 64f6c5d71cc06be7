"""The labeling page is usable without a mouse and at 200% zoom (WCAG's reflow and focus-visible).

200% zoom of the 1280 × 1100 window the tests use is a 640 × 550 viewport in CSS pixels at
device scale 2: Chromium's device-metrics override gives exactly that, media queries and
all. The label that lands is checked over gRPC.
"""
from __future__ import annotations

from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from knn_al.simulation.server_process import ServerProcess
# The fixtures browser and server are imported for pytest to find them.
from tests.page_helpers import PROJECT, Page, browser, server, topic_of  # noqa: F401

#: The focus ring of the focused element: an outline, or a box shadow where the page uses one.
FOCUS_RING = """
const el = document.activeElement, style = getComputedStyle(el);
return {tag: el.tagName, id: el.id, text: (el.textContent || '').trim().slice(0, 40),
        outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
        shadow: style.boxShadow !== 'none'};
"""

#: What does not fit a viewport: the page scrolling sideways, or a control cut off at its right edge.
OVERFLOW = """
const width = document.documentElement.clientWidth;
const cut = [...document.querySelectorAll('button, input, select, #item-body, #labels')]
  .filter(el => el.offsetParent !== null)
  .filter(el => { const r = el.getBoundingClientRect(); return r.right > width + 1 || r.left < -1; })
  .map(el => el.id || el.textContent.trim().slice(0, 20));
return {scroll: document.documentElement.scrollWidth - width, cut};
"""


def zoom_200(driver: WebDriver) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 640, "height": 550, "deviceScaleFactor": 2, "mobile": False})


def test_keyboard_only_at_200_percent_zoom_with_a_visible_focus(server: ServerProcess, browser: WebDriver) -> None:
    zoom_200(browser)
    page = Page(browser)
    browser.get(f"{server.http_url}/?project={PROJECT}&annotator=ann")
    item = page.next_item(other_than="")

    # Nothing scrolls sideways or is cut off: the layout reflows into one column.
    fits = browser.execute_script(OVERFLOW)
    assert fits["scroll"] <= 0 and not fits["cut"], fits

    # Tab walks the controls, and every one shows a focus ring (the document itself takes
    # the focus once, when Tab leaves the last control for the browser's own).
    seen = set()
    for _ in range(12):
        page.press(Keys.TAB)
        ring = browser.execute_script(FOCUS_RING)
        if ring["tag"] != "BODY":
            assert ring["outline"] or ring["shadow"], f"no visible focus on {ring}"
            seen.add(ring["id"] or ring["text"])
    assert {"tab-label", "change", "new-label", "skip", "more-like"} <= seen, seen

    # Back on the item (Esc), a label by keyboard alone lands, and the next item shows.
    page.press(Keys.ESCAPE)
    key = page.label(topic_of(item))
    page.next_item(other_than=item)
    with server.client() as client:
        assert client.export_labels(PROJECT) == {item: topic_of(item)}, key
    fits = browser.execute_script(OVERFLOW)
    assert fits["scroll"] <= 0 and not fits["cut"], fits
