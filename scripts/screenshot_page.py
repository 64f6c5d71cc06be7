"""Render ``docs/labeling_page.png``: the labeling page on BBC News in a real headless Chromium.

Embeds 200 BBC News articles (40 per topic, their opening 300 characters) with the offline
``use-multilingual`` encoder (cached in ``--cache``, like ``knn-al demo``'s), starts ``knn-al
serve --http-port 0`` on a temporary data dir, creates a project (label budget 60, target
accuracy 0.9) whose items show their text from metadata ``source``, gives 10 labels over gRPC
(the strategy's picks, labeled with their true topic), then opens the page, labels 8 more by
keyboard, opens the score breakdown and saves the screenshot.

    .venv/bin/python scripts/screenshot_page.py [--out docs/labeling_page.png] [--cache knn-al-demo]

Needs Chromium and chromedriver (scripts/install_browser.sh).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from knn_al.simulation.bbc_news import embedded_bbc
from knn_al.simulation.server_process import ServerProcess

PROJECT = "bbc-news"
ANNOTATOR = "maria"


def browser(width: int, height: int) -> WebDriver:
    driver, chromium = shutil.which("chromedriver"), shutil.which("chromium")
    if driver is None or chromium is None:
        sys.exit("screenshot_page: Chromium and chromedriver are needed: run scripts/install_browser.sh")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--hide-scrollbars", "--lang=en-US"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def label_on_page(driver: WebDriver, truth: dict[str, str], count: int) -> None:
    """Label ``count`` items by keyboard with their true topic (Enter when it is the prediction)."""
    wait = WebDriverWait(driver, 30)
    shown = lambda: str(driver.execute_script(  # noqa: E731
        "const h = document.getElementById('item-heading').textContent;"
        "return h.startsWith('Item ') ? h.slice(5).split(' (')[0] : ''"))
    idle = lambda d: d.execute_script("return document.body.dataset.pending") == "0"  # noqa: E731
    for _ in range(count):
        wait.until(lambda d: shown() != "")
        wait.until(idle)
        item = shown()
        topic = truth[item]
        prediction = driver.execute_script("return document.getElementById('prediction').textContent")
        labels = driver.execute_script(
            "return [...document.querySelectorAll('#labels .label-button')].map(b => b.dataset.label)")
        key = Keys.ENTER if prediction.startswith(f"Predicted: {topic} (") else str(labels.index(topic) + 1)
        ActionChains(driver).send_keys(key).perform()
        wait.until(lambda d: shown() != item)
    wait.until(idle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/labeling_page.png"))
    parser.add_argument("--cache", type=Path, default=Path("knn-al-demo"), help="where the embedded articles are kept")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    dataset = embedded_bbc(args.cache, max_chars=300, per_class=40)
    truth = dict(zip(dataset.ids, (str(label) for label in dataset.labels)))
    # The page shows metadata "text"; the true topic stays out of the project.
    metadata = [{"text": m["text"]} for m in dataset.item_metadata()]

    with tempfile.TemporaryDirectory(prefix="knn-al-screenshot-") as data_dir:
        with ServerProcess(Path(data_dir), "--http-port", "0") as server, server.client() as client:
            client.create_project(PROJECT, dimension=dataset.dimension, label_budget=60, target_accuracy=0.9)
            client.add_items(PROJECT, dataset.ids, dataset.vectors, metadata)
            for sample in client.next_sample(PROJECT, 10, annotator="lead", seed=1):
                client.submit_label(PROJECT, sample.id, truth[sample.id], annotator="lead")
            driver = browser(1280, 1000)
            try:
                driver.get(f"{server.http_url}/?project={PROJECT}&annotator={ANNOTATOR}")
                label_on_page(driver, truth, 8)
                ActionChains(driver).send_keys("?").perform()
                args.out.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.out))
            finally:
                driver.quit()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
