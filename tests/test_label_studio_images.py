"""End to end with images: a real Label Studio 1.23 and the bridge over a real ``knn-al
serve``, whose ``mobilenet_v1`` encoder embeds the files the bridge fetches from Label Studio.

Images reach Label Studio both ways the bridge supports: uploaded ("Upload files", tasks
naming ``/data/upload/..``), before the ML backend is connected, so its setup's sync fetches
them; and from a local-files storage (``/data/local-files/?d=..``) synced afterwards, so they
arrive by the ``TASKS_CREATED`` webhook. A file that is no image is left out, with a problem
naming its task, and predicted nothing; the others are embedded, labeled through Label Studio, and predicted."""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

from knn_al.label_studio.mapping import item_id, project_name
from knn_al.label_studio.predictions import UNRANKED_SCORE
from knn_al.simulation.server_process import ServerProcess
from tests.label_studio_helpers import LabelStudio
from tests.test_label_studio_backend import Backend
from tests.test_label_studio_bridge import SETTLE, check_order

PICTURES = {"cat": skdata.chelsea(), "cup": skdata.coffee(), "rocket": skdata.rocket()}
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="kind" toName="image" choice="single">'
          + "".join(f'<Choice value="{k}"/>' for k in PICTURES) + "</Choices></View>")


def variants(picture: np.ndarray, count: int) -> list[bytes]:
    """``count`` PNG files of ``picture``: crops from a sliding window, every other one mirrored."""
    height, width = picture.shape[:2]
    files = []
    for k in range(count):
        top, left = k * height // (6 * count), k * width // (5 * count)
        crop = Image.fromarray(picture[top:top + 4 * height // 5, left:left + 4 * width // 5])
        if k % 2:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        buffer = io.BytesIO()
        crop.resize((160, 160)).save(buffer, format="PNG")
        files.append(buffer.getvalue())
    return files


def test_image_tasks_uploaded_or_in_local_files_storage_are_embedded_and_predicted(
        label_studio: LabelStudio, serve: Callable[..., ServerProcess], tmp_path: Path) -> None:
    ls = label_studio
    files = {kind: variants(picture, 6) for kind, picture in PICTURES.items()}
    pid = ls.api("POST", "/api/projects", {"title": "pictures", "label_config": CONFIG,
                                           "sampling": "Uncertainty sampling"})["id"]
    uploaded = ls.upload(pid, {f"{kind}-{k}.png": f for kind in PICTURES for k, f in enumerate(files[kind][:4])})
    assert uploaded["task_count"] == 12
    kind_of = {t["id"]: t["data"]["image"].rsplit("/", 1)[1].split("-")[1] for t in
               ls.api("GET", f"/api/tasks?project={pid}&page_size=100")["tasks"]}
    assert all(url.startswith(f"/data/upload/{pid}/") for url in
               (t["data"]["image"] for t in ls.api("GET", f"/api/tasks?project={pid}")["tasks"]))

    server = serve(tmp_path / "data")
    name = project_name(pid)
    bridge = Backend(server.address)
    try:
        assert ls.api("POST", "/api/ml", {"url": bridge.url, "project": pid, "title": "knn-al"})["state"] == "CO"
        assert bridge.bridge.settle(SETTLE) == []
        info = bridge.client.get_project(name)
        assert (info.encoder, info.pool_size) == ("mobilenet_v1", 12)

        # Local-files storage, synced now: its tasks arrive by webhook, a broken file among them.
        folder = ls.data_dir / "files" / f"pictures-{pid}"
        folder.mkdir()
        for kind in PICTURES:
            for k, content in enumerate(files[kind][4:], start=4):
                (folder / f"{kind}-{k}.png").write_bytes(content)
        (folder / "broken-0.png").write_bytes(b"\x89PNG\r\n\x1a\n but not an image")
        storage = ls.api("POST", "/api/storages/localfiles", {
            "project": pid, "path": str(folder), "regex_filter": r".*\.png", "use_blob_urls": True,
            "title": "pictures"})
        ls.api("POST", f"/api/storages/localfiles/{storage['id']}/sync")
        tasks = ls.api("GET", f"/api/tasks?project={pid}&page_size=100")["tasks"]
        assert len(tasks) == 19
        local = {t["id"]: t["data"]["image"] for t in tasks if t["id"] not in kind_of}
        assert all(url.startswith(f"{ls.url}/data/local-files/?d=pictures-{pid}/") for url in local.values()), local
        kind_of |= {task: url.rsplit("/", 1)[1].split("-")[0] for task, url in local.items()}
        broken = next(task for task, kind in kind_of.items() if kind == "broken")
        problems = bridge.bridge.settle(SETTLE)
        assert len(problems) == 1 and problems[0].startswith(f"project {pid}: task {broken}: "), problems
        assert bridge.client.get_project(name).pool_size == 18

        # One label per kind, each on the task Label Studio hands out next: knn-al's pick.
        labeled = []
        for _ in PICTURES:
            task = ls.api("GET", f"/api/projects/{pid}/next")["id"]
            assert item_id(task) == bridge.client.next_sample(name, 1, seed=0, preview=True)[0].id
            choice = {"from_name": "kind", "to_name": "image", "type": "choices",
                      "value": {"choices": [kind_of[task]]}}
            ls.api("POST", f"/api/tasks/{task}/annotations", {"result": [choice]})
            labeled.append(task)
            # The broken task is tried again whenever Label Studio asks its prediction.
            assert all(p.startswith(f"project {pid}: task {broken}: ") for p in bridge.bridge.settle(SETTLE))
        assert sorted(kind_of[t] for t in labeled) == sorted(PICTURES)  # the picks cover every kind first
        stored = check_order(ls, pid, bridge.client, name)
        unannotated = [t for t in kind_of if t not in labeled and t != broken]
        right = [stored[t][0][1][0]["value"]["choices"] == [kind_of[t]] for t in unannotated]
        assert len(right) == 15 and sum(right) >= 14, right
        # A task not in the pool is predicted nothing, ranked after every other (if Label Studio asked).
        assert stored.get(broken, [(UNRANKED_SCORE, [])]) == [(UNRANKED_SCORE, [])]
    finally:
        bridge.stop()
