"""The Label Studio bridge's speed: how long after an annotation Label Studio's queue follows
knn-al's new order.

    python bench/bench_label_studio.py [--tasks 500 2000] [--annotations 20]

For each project size: a real Label Studio 1.23 (its own venv, ``scripts/label_studio_env.sh``;
started as the tests start it, ``tests/label_studio_helpers.py``), a real ``knn-al serve`` and
the bridge (the ML backend app, in this process so its worker can be waited on). A project of
that many BBC News articles is connected (the setup's sync embeds them all and pushes their
predictions), then annotated as Label Studio's uncertainty sampling hands tasks out. Printed:

* connect: ``POST /api/ml`` until the sync and first push are done (embedding included);
* annotate: ``POST /api/tasks/{id}/annotations`` (Label Studio delivers the webhook
  synchronously, so the label is in knn-al when it returns);
* reordered: from the annotation's return until the push has written what orders the queue,
  i.e. Label Studio's next ``/next`` hands out knn-al's new first pick;
* all labels: until every unannotated task's predicted label is refreshed too (rounds of
  ``LABEL_WRITES``); p50 and p99 over the annotations.

Label Studio, knn-al and the bridge share the machine's two cores, as on a laptop.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knn_al.label_studio.mapping import item_id, project_name  # noqa: E402
from knn_al.simulation.bbc_news import corpus_dir, read_article  # noqa: E402
from knn_al.simulation.server_process import ServerProcess  # noqa: E402
from tests.label_studio_helpers import running_label_studio  # noqa: E402
from tests.test_label_studio_backend import Backend  # noqa: E402

SETTLE = 600


def articles(n: int) -> list[tuple[str, str]]:
    """``n`` (topic, opening 300 characters) pairs, topics in turn."""
    topics = sorted(p.name for p in corpus_dir().iterdir() if p.is_dir())
    files = {t: sorted((corpus_dir() / t).glob("*.txt")) for t in topics}
    picked = [(t, files[t][k]) for k in range(max(map(len, files.values()))) for t in topics if k < len(files[t])]
    if n > len(picked):
        raise SystemExit(f"the BBC News corpus has {len(picked)} articles, fewer than --tasks {n}")
    return [(t, " ".join(read_article(p)[:300].split())) for t, p in picked[:n]]


def run(tasks: int, annotations: int, work: Path) -> tuple[float, list[float], list[float], list[float]]:
    corpus = articles(tasks)
    topics = sorted({t for t, _ in corpus})
    config = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text" choice="single">'
              + "".join(f'<Choice value="{t}"/>' for t in topics) + "</Choices></View>")
    with running_label_studio(work / "label-studio") as ls, ServerProcess(work / "knn-al") as server:
        pid = ls.api("POST", "/api/projects", {"title": "bench", "label_config": config,
                                               "sampling": "Uncertainty sampling"})["id"]
        ls.api("POST", f"/api/projects/{pid}/import", [{"text": text} for _, text in corpus])
        topic = {text: t for t, text in corpus}
        bridge = Backend(server.address)
        try:
            start = time.perf_counter()
            ls.api("POST", "/api/ml", {"url": bridge.url, "project": pid, "title": "knn-al"})
            problems = bridge.bridge.settle(SETTLE)
            connect = time.perf_counter() - start
            assert problems == [], problems
            annotate, reordered, relabeled = [], [], []
            for _ in range(annotations):
                task = ls.api("GET", f"/api/projects/{pid}/next")
                result = [{"from_name": "topic", "to_name": "text", "type": "choices",
                           "value": {"choices": [topic[task["data"]["text"]]]}}]
                start = time.monotonic()
                ls.api("POST", f"/api/tasks/{task['id']}/annotations", {"result": result})
                saved = time.monotonic()
                annotate.append(saved - start)
                while bridge.bridge.ordered_at_.get(pid, 0.0) < saved:  # the push's order writes
                    if time.monotonic() - saved > SETTLE:
                        raise SystemExit(f"no push within {SETTLE} s: {bridge.bridge.settle(0)}")
                    time.sleep(0.001)
                reordered.append(bridge.bridge.ordered_at_[pid] - saved)
                assert bridge.bridge.settle(SETTLE) == []  # the predicted labels too, before the next
                relabeled.append(time.monotonic() - saved)
            following = ls.api("GET", f"/api/projects/{pid}/next")["id"]
            assert item_id(following) == bridge.client.next_sample(project_name(pid), 1, seed=0, preview=True)[0].id
        finally:
            bridge.stop()
    return connect, annotate, reordered, relabeled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[500, 2000], help="project sizes (default 500 2000)")
    parser.add_argument("--annotations", type=int, default=20, help="annotations per project (default 20)")
    args = parser.parse_args()
    print(f"{'tasks':>6} {'connect s':>10} {'annotate p50 ms':>16} {'reordered p50 ms':>17} {'p99':>6} "
          f"{'all labels p50 ms':>18} {'p99':>6}")
    for tasks in args.tasks:
        with tempfile.TemporaryDirectory() as work:
            connect, annotate, reordered, relabeled = run(tasks, args.annotations, Path(work))
        order, labels = 1000 * np.asarray(reordered), 1000 * np.asarray(relabeled)
        print(f"{tasks:>6} {connect:>10.1f} {1000 * np.median(annotate):>16.0f} {np.median(order):>17.0f} "
              f"{np.percentile(order, 99):>6.0f} {np.median(labels):>18.0f} {np.percentile(labels, 99):>6.0f}",
              flush=True)


if __name__ == "__main__":
    main()
