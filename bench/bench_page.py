"""The labeling page's speed: time from a label key press to the next item painted.

    python bench/bench_page.py [--items 100000] [--dimension 512] [--labels 100]

Builds a project of clustered unit vectors with a text per item (through AddItems), serves
it with ``knn-al serve --http-port 0``, opens the page in a headless Chromium (Debian's
``chromium`` and ``chromium-driver``: ``scripts/install_browser.sh``) and labels items by
pressing label keys, as an annotator does. The page marks each key press and the paint of
the item shown next (``knn-al:key-to-paint`` in the browser's performance timeline, see
``server/http/page/app.js``); this prints their p50 and p99, split by whether the next
item had been prefetched before the key press.

The browser, the server and this script share the machine's cores: the numbers include
that contention, as an annotator's laptop running a local server would.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors

LABELS = ["business", "entertainment", "politics", "sport", "tech"]
WORDS = ("market growth league film election court phone chip profit season album vote network "
         "striker budget minister actor release quarter device").split()


def texts(n: int, seed: int) -> list[str]:
    """A sentence of 12-30 words per item: what the page has to lay out."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(12, 31))).capitalize() + "." for _ in range(n)]


def browser(headless_size: str = "1280,900"):  # noqa: ANN201 - selenium ships no types
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={headless_size}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def measure(url: str, presses: int) -> list[dict]:
    """Press label keys ``presses`` times on the page at ``url``; the key-to-paint measures."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.execute_script("return document.body.dataset.pending === '0' && "
                                              "document.getElementById('labels').children.length > 0"))
        body = driver.find_element(By.TAG_NAME, "body")
        count = "return performance.getEntriesByName('knn-al:key-to-paint').length"
        for i in range(presses):
            body.send_keys(str(1 + i % len(LABELS)))
            wait.until(lambda d: d.execute_script(count) > i)
            # An annotator reads before the next key: let the queue refill, as it would.
            wait.until(lambda d: d.execute_script("return document.body.dataset.pending === '0'"))
        return driver.execute_script(
            "return performance.getEntriesByName('knn-al:key-to-paint')"
            ".map(m => ({ms: m.duration, prefetched: !!(m.detail && m.detail.prefetched)}))")
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--labels", type=int, default=100, help="label key presses to measure")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        ids, vectors, _ = clustered_vectors(args.items, args.dimension, clusters=len(LABELS), seed=0)
        with ServerProcess(data, "--http-port", "0") as server:
            with server.client(timeout=600) as client:
                client.create_project("bench", args.dimension, labels=LABELS)
                t0 = time.perf_counter()
                client.add_items("bench", ids, vectors, [{"text": t} for t in texts(args.items, seed=1)])
                print(f"added {args.items} × {args.dimension} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            marks = measure(f"{server.http_url}/?project=bench&annotator=bench", args.labels)

    print(f"\nlabel key press → next item painted, {args.items:,} items × {args.dimension}, "
          f"headless Chromium, ms")
    print(f"{'next item':<26} {'presses':>8} {'p50':>8} {'p99':>8} {'max':>8}")
    for name, keep in (("prefetched", True), ("waited for the server", False), ("all", None)):
        ms = np.array([m["ms"] for m in marks if keep is None or m["prefetched"] == keep])
        if len(ms):
            p50, p99 = np.percentile(ms, [50, 99])
            print(f"{name:<26} {len(ms):>8} {p50:>8.1f} {p99:>8.1f} {ms.max():>8.1f}")


if __name__ == "__main__":
    main()
