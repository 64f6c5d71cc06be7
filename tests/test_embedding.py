"""The dataset directory format and the `knn-al embed` job, end to end on real files."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from knn_al.cli import main
from knn_al.dataset import DatasetError, read_dataset, write_dataset
from knn_al.encoders import get_encoder


def save(array: np.ndarray, path: Path, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)


def faces(n: int) -> list[np.ndarray]:
    return [(face * 255).round().astype(np.uint8) for face in data.lfw_subset()[:n]]


def assert_same_dataset(a, b) -> None:
    assert (a.ids, a.metadata, a.labels, a.failed) == (b.ids, b.metadata, b.labels, b.failed)
    assert (a.encoder, a.dimension, a.modality) == (b.encoder, b.dimension, b.modality)
    np.testing.assert_array_equal(a.vectors, b.vectors)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """Two class folders, one unlabelled image at the top, one corrupt JPEG."""
    root = tmp_path_factory.mktemp("images")
    save(data.chelsea(), root / "cat" / "chelsea.jpg", quality=90)
    save(data.chelsea()[::2, ::2], root / "cat" / "chelsea-small.png")
    save(data.coffee(), root / "coffee" / "coffee.jpg", quality=90)
    save(data.coffee(), root / "coffee" / "coffee.bmp")
    save(data.astronaut(), root / "astronaut.png")
    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, "JPEG")
    (root / "coffee" / "broken.jpg").write_bytes(buffer.getvalue()[:300])
    return root


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("texts") / "texts.jsonl"
    rows = [{"id": "a", "text": "The cat sleeps on the sofa.", "label": "pets"},
            {"id": "b", "text": "A cat is asleep on the couch.", "label": "pets"},
            {"id": "c", "text": "", "label": "pets"},
            {"id": 4, "text": "Die Zentralbank hebt die Zinsen an.", "label": None},
            {"id": "e", "text": "Interest rates rise again.", "label": "finance"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def local_images(image_folder, tmp_path_factory):
    output = tmp_path_factory.mktemp("out") / "images"
    assert main(["embed", str(image_folder), "-o", str(output), "--batch-size", "2", "--shard-size", "3"]) == 0
    return read_dataset(output)


@pytest.fixture(scope="module")
def local_texts(text_file, tmp_path_factory):
    output = tmp_path_factory.mktemp("out") / "texts"
    assert main(["embed", str(text_file), "-o", str(output), "--batch-size", "2", "--shard-size", "3"]) == 0
    return read_dataset(output)


@pytest.fixture(scope="module")
def ray_session():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_image_folder_becomes_a_labelled_dataset_and_the_corrupt_file_is_reported(image_folder, local_images):
    dataset = local_images
    assert dataset.ids == ["astronaut.png", "cat/chelsea-small.png", "cat/chelsea.jpg", "coffee/coffee.bmp",
                           "coffee/coffee.jpg"]
    assert dataset.labels == [None, "cat", "cat", "coffee", "coffee"]
    assert (dataset.encoder, dataset.dimension, dataset.modality) == ("mobilenet_v1", 1024, "image")
    assert dataset.metadata[1] == {"id": "cat/chelsea-small.png",
                                   "source": str(image_folder / "cat" / "chelsea-small.png"), "label": "cat"}
    assert [f["id"] for f in dataset.failed] == ["coffee/broken.jpg"]
    assert "corrupt image" in dataset.failed[0]["error"]
    # The job's vectors are the encoder's vectors for the same files.
    encoder = get_encoder("mobilenet_v1")
    expected = encoder.encode([Path(m["source"]).read_bytes() for m in dataset.metadata])
    np.testing.assert_allclose(dataset.vectors, expected, atol=1e-5)
    similarity = dataset.vectors @ dataset.vectors.T
    assert similarity[1, 2] > similarity[1, 4] and similarity[3, 4] > similarity[3, 2]


def test_text_jsonl_becomes_a_dataset_and_the_empty_text_is_reported(local_texts):
    dataset = local_texts
    assert dataset.ids == ["a", "b", "4", "e"]
    assert dataset.labels == ["pets", "pets", None, "finance"]
    assert dataset.metadata[2] == {"id": "4", "source": "Die Zentralbank hebt die Zinsen an.", "label": None}
    assert (dataset.encoder, dataset.dimension, dataset.modality) == ("use-multilingual", 512, "text")
    assert dataset.failed == [{"id": "c", "source": "", "error": "empty text"}]
    np.testing.assert_allclose(np.linalg.norm(dataset.vectors, axis=1), 1.0, atol=1e-5)
    similarity = dataset.vectors @ dataset.vectors.T
    assert similarity[0, 1] > similarity[0, 3] and similarity[2, 3] > similarity[2, 0]


def test_csv_input_gives_the_same_dataset_as_jsonl(text_file, local_texts, tmp_path):
    import csv

    rows = [json.loads(line) for line in text_file.read_text(encoding="utf-8").splitlines()]
    with open(tmp_path / "texts.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    assert main(["embed", str(tmp_path / "texts.csv"), "-o", str(tmp_path / "out"),
                 "--batch-size", "2", "--shard-size", "3", "--quiet"]) == 0
    assert_same_dataset(read_dataset(tmp_path / "out"), local_texts)


def test_a_shard_where_every_item_fails_is_kept_with_its_failures(tmp_path):
    source = tmp_path / "texts.jsonl"
    rows = [("a", "first text"), ("b", ""), ("c", " "), ("d", "last text")]
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    assert main(["embed", str(source), "-o", str(tmp_path / "out"), "--shard-size", "1", "--quiet"]) == 0
    dataset = read_dataset(tmp_path / "out")
    assert dataset.ids == ["a", "d"] and dataset.vectors.shape == (2, 512)
    assert [f["id"] for f in dataset.failed] == ["b", "c"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [s["count"] for s in manifest["shards"]] == [1, 0, 0, 1]
    assert (manifest["count"], manifest["failed_count"]) == (2, 2)


def test_progress_bar_on_a_terminal_and_summary(text_file, tmp_path):
    """The bar is drawn when stderr is a terminal (a pseudo-terminal here); test_cli checks
    that a pipe gets none."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    done = subprocess.run([sys.executable, "-m", "knn_al.cli", "embed", str(text_file), "-o", str(tmp_path / "out")],
                          stdout=subprocess.PIPE, stderr=follower, text=True, timeout=300)
    os.close(follower)
    err = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        err += chunk
    os.close(leader)
    assert done.returncode == 0
    assert "item/s" in err.decode()
    assert "failed: c: empty text" in err.decode()
    assert "embedded 4 items with use-multilingual (512-d)" in done.stdout
    assert "1 failed and skipped" in done.stdout


def test_ray_engine_writes_the_same_datasets_as_the_local_engine(ray_session, image_folder, text_file,
                                                                  local_images, local_texts, tmp_path):
    for source, local, name in ((image_folder, local_images, "images"), (text_file, local_texts, "texts")):
        assert main(["embed", str(source), "-o", str(tmp_path / name), "--engine", "ray",
                     "--batch-size", "2", "--shard-size", "3", "--quiet"]) == 0
        assert_same_dataset(read_dataset(tmp_path / name), local)


def test_a_killed_job_resumes_and_ends_as_an_uninterrupted_one(tmp_path, capsys):
    folder = tmp_path / "faces"
    for number, face in enumerate(faces(72)):
        save(face, folder / f"face-{number:03d}.png")
    options = ["--batch-size", "4", "--shard-size", "8", "--quiet"]
    killed = tmp_path / "killed"
    job = subprocess.Popen([sys.executable, "-m", "knn_al.cli", "embed", str(folder), "-o", str(killed), *options],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (killed / "manifest.json").exists():
            assert job.poll() is None and time.monotonic() < deadline, "the job ended before writing a shard"
            time.sleep(0.01)
        os.kill(job.pid, signal.SIGKILL)
    finally:
        job.wait()
    manifest = json.loads((killed / "manifest.json").read_text())
    assert not manifest["complete"] and 0 < len(manifest["shards"]) < 9
    with pytest.raises(DatasetError, match="incomplete"):
        read_dataset(killed)

    assert main(["embed", str(folder), "-o", str(killed), *options]) == 0
    assert f"{len(manifest['shards'])} of 9 shards already done" in capsys.readouterr().err
    assert main(["embed", str(folder), "-o", str(tmp_path / "whole"), *options]) == 0
    resumed = read_dataset(killed)
    assert len(resumed.ids) == 72 and resumed.failed == []
    assert_same_dataset(resumed, read_dataset(tmp_path / "whole"))


@pytest.mark.parametrize(("make_input", "extra", "message"), [
    (lambda d: d / "missing", [], "no such file or directory"),
    (lambda d: d, ["--encoder", "resnet"], "unknown encoder 'resnet': use one of use-multilingual"),
    (lambda d: d, ["--encoder", "use-multilingual"], "embeds texts but"),
    (lambda d: (d / "t.txt", (d / "t.txt").write_text("hello"))[0], [], "expected a folder of images or a .jsonl/.csv"),
    (lambda d: (d / "t.jsonl", (d / "t.jsonl").write_text('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n'))[0],
     [], "duplicate ids ['1']"),
    (lambda d: (d / "t.jsonl", (d / "t.jsonl").write_text('{"id": 1, "text": "a"}\n{oops\n'))[0], [], "t.jsonl:2: not a JSON"),
    (lambda d: (d / "t.csv", (d / "t.csv").write_text("id,body\n1,a\n"))[0], [], "lacks the column(s) text"),
    (lambda d: (d / "e", (d / "e").mkdir())[0], [], "nothing to embed"),
    (lambda d: d, ["--handle", "/models/mobilenet"], "'mobilenet_v1' takes no option handle"),
    (lambda d: d, ["--ray-actors", "2"], "need --engine ray"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, make_input, extra, message):
    folder = tmp_path / "in"
    save(data.coffee()[:64, :64], folder / "coffee.png")
    assert main(["embed", str(make_input(folder)), "-o", str(tmp_path / "out"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_output_of_another_job_is_not_mixed_in(text_file, tmp_path, capsys):
    assert main(["embed", str(text_file), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": "z", "text": "something else"}\n')
    assert main(["embed", str(other), "-o", str(tmp_path / "out"), "--quiet"]) == 2
    assert "holds a dataset from a different job" in capsys.readouterr().err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    assert main(["embed", str(other), "-o", str(tmp_path / "junk"), "--quiet"]) == 2
    assert "not empty and holds no dataset" in capsys.readouterr().err


def test_write_then_read_dataset_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(10, 6)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"item-{i}" for i in range(10)]
    labels = ["x" if i % 3 == 0 else None for i in range(10)]
    write_dataset(tmp_path / "d", ids=ids, vectors=vectors, encoder="custom", labels=labels, shard_size=4)
    dataset = read_dataset(tmp_path / "d")
    assert dataset.ids == ids and dataset.labels == labels and dataset.encoder == "custom"
    np.testing.assert_array_equal(dataset.vectors, vectors)
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert (manifest["count"], manifest["labeled_count"], manifest["failed_count"]) == (10, 4, 0)
    assert [s["count"] for s in manifest["shards"]] == [4, 4, 2]
    shard = np.load(tmp_path / "d" / "shard-00001.npy", mmap_mode="r")
    assert isinstance(shard, np.memmap) and shard.dtype == np.float32


def test_read_dataset_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset directory"):
        read_dataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no manifest.json"):
        read_dataset(tmp_path / "empty")
    vectors = np.eye(3, dtype=np.float32)
    with pytest.raises(DatasetError, match="duplicate ids"):
        write_dataset(tmp_path / "dup", ids=["a", "b", "a"], vectors=vectors, encoder="custom")
    write_dataset(tmp_path / "d", ids=["a", "b", "c"], vectors=vectors, encoder="custom")
    (tmp_path / "d" / "manifest.json").write_text('{"format": "knn-al-dat')
    with pytest.raises(DatasetError, match="corrupt manifest"):
        read_dataset(tmp_path / "d")
    write_dataset(tmp_path / "e", ids=["a", "b", "c"], vectors=vectors, encoder="custom")
    (tmp_path / "e" / "shard-00000.jsonl").write_text('{"id": "a"}\n')
    with pytest.raises(DatasetError, match="1 records"):
        read_dataset(tmp_path / "e")
    write_dataset(tmp_path / "f", ids=["a", "b", "c"], vectors=vectors, encoder="custom")
    (tmp_path / "f" / "shard-00000.jsonl").write_text('{"id": "a"}\n{"id": "b"}\n{"id": "a"}\n')
    with pytest.raises(DatasetError, match="duplicate ids"):
        read_dataset(tmp_path / "f")
