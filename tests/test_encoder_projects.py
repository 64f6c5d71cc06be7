"""Projects created with an encoder: raw texts and images over gRPC, embedded by the server,
and ``knn-al load`` of a dataset directory into a running server. Real server process on
loopback, real encoders (use-multilingual, mobilenet_v1)."""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from knn_al.cli import main
from knn_al.client import Client, ServiceError
from knn_al.dataset import write_dataset
from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors

Code = grpc.StatusCode

SPORT = ["The striker scored twice in the second half.", "The team won the championship final on penalties.",
         "She ran the marathon in under three hours.", "The goalkeeper saved a penalty in extra time."]
COOKING = ["Simmer the tomato sauce for twenty minutes.", "Knead the bread dough until it is smooth.",
           "Add a pinch of salt to the boiling pasta water.", "Roast the vegetables in a hot oven."]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    # Tests load datasets written under pytest's temporary directory.
    running = ServerProcess(tmp_path_factory.mktemp("data"), "--dataset-root", str(tmp_path_factory.getbasetemp()))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def texts_project(server: ServerProcess) -> list[str]:
    """A use-multilingual project holding the sport and cooking sentences, ids s0.. and c0.."""
    ids = [f"s{i}" for i in range(len(SPORT))] + [f"c{i}" for i in range(len(COOKING))]
    with server.client() as client:
        info = client.create_project("texts", encoder="use-multilingual")
        assert (info.dimension, info.encoder) == (512, "use-multilingual")
        assert client.add_items("texts", ids, texts=SPORT + COOKING,
                                metadata=[{"text": t} for t in SPORT + COOKING]) == len(ids)
    return ids


def _state(client: Client, project: str, ids: list[str]):
    return client.get_project(project), client.export_labels(project), client.predict(project, ids)


def _tensorflow_loaded(server: ServerProcess) -> bool:
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    return "tensorflow" in maps


def test_raw_texts_are_embedded_labeled_and_predicted(server: ServerProcess, texts_project: list[str]) -> None:
    with server.client() as client:
        first = client.next_sample("texts", annotator="ann")[0]
        assert first.metadata["text"] in SPORT + COOKING
        client.submit_label("texts", first.id, "sport" if first.id.startswith("s") else "cooking", annotator="ann")
        client.submit_labels("texts", {"s0": "sport", "c0": "cooking"})
        near = client.predict("texts", texts=["The striker scored two goals in the second half.",
                                              "Let the tomato sauce simmer for 20 minutes."])
        assert [p.label for p in near] == ["sport", "cooking"]
        # Each near-duplicate's nearest labeled neighbour is the sentence it paraphrases.
        assert near[0].id == "" and [p.neighbors[0].id for p in near] == ["s0", "c0"]
        # A numpy-only encoder: the server never loaded TensorFlow for it.
        assert not _tensorflow_loaded(server)


def _bad_inputs(ids: list[str]) -> dict:
    return {
        "empty text in a batch": (lambda c: c.add_items("texts", ["n1", "n2"], texts=["A new sentence.", "  "]),
                                  Code.INVALID_ARGUMENT, "'n2': empty text"),
        "empty text past the first encoder call": (
            lambda c: c.add_items("texts", [f"n{i}" for i in range(300)],
                                  texts=[f"Sentence number {i}." if i != 280 else "" for i in range(300)]),
            Code.INVALID_ARGUMENT, "1 of 300 texts cannot be embedded (the request is refused as a whole): "
                                   "item 'n280': empty text"),
        "empty text (predict)": (lambda c: c.predict("texts", texts=[""]), Code.INVALID_ARGUMENT, "empty text"),
        "images to a text project": (lambda c: c.add_items("texts", ["n1"], images=[b"\x89PNG"]),
                                     Code.INVALID_ARGUMENT, "send texts, not images"),
        "texts and vectors (predict)": (lambda c: c.predict("texts", texts=["x"], vectors=np.ones((1, 512))),
                                        Code.INVALID_ARGUMENT, "exactly one of"),
        "duplicate id of a raw item": (lambda c: c.add_items("texts", ["n1", ids[0]], texts=["One.", "Two."]),
                                       Code.ALREADY_EXISTS, ids[0]),
        "texts to a vector-only project": (lambda c: c.add_items("vectors-only", ["n1"], texts=["Hello."]),
                                           Code.FAILED_PRECONDITION, "--encoder"),
        "texts to predict, vector-only": (lambda c: c.predict("vectors-only", texts=["Hello."]),
                                          Code.FAILED_PRECONDITION, "encoder="),
        "dimension of another encoder": (lambda c: c.create_project("wrong", 1024, encoder="use-multilingual"),
                                         Code.INVALID_ARGUMENT, "512-dimensional"),
        "unknown encoder": (lambda c: c.create_project("wrong", encoder="bert"), Code.INVALID_ARGUMENT,
                            "use-multilingual, mobilenet_v1"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs([""])))
def test_bad_raw_input_gets_its_status_and_changes_nothing(server: ServerProcess, texts_project: list[str],
                                                           case: str) -> None:
    call, code, fragment = _bad_inputs(texts_project)[case]
    with server.client() as client:
        if "vectors-only" not in {p.name for p in client.list_projects()}:
            ids, x, _ = clustered_vectors(20, 8)
            client.create_project("vectors-only", 8)
            client.add_items("vectors-only", ids, x)
        before = [_state(client, "texts", texts_project), client.list_projects()]
        with pytest.raises(ServiceError) as caught:
            call(client)
        assert caught.value.code == code, caught.value.message
        assert fragment in caught.value.message
        assert [_state(client, "texts", texts_project), client.list_projects()] == before


def _image_bytes(image: np.ndarray, size: int, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).resize((size, size)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_raw_images_with_mobilenet_v1(tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    server = serve(tmp_path / "data")
    pictures = {"person": skdata.astronaut(), "cup": skdata.coffee(), "cat": skdata.chelsea()}
    with server.client(timeout=120) as client:
        assert client.create_project("images", encoder="mobilenet_v1").dimension == 1024
        ids = list(pictures)
        images = [_image_bytes(p, 96, "PNG") for p in pictures.values()]
        with pytest.raises(ServiceError) as caught:
            client.add_items("images", [*ids, "broken"], images=[*images, b"\xff\xd8\xff not really a JPEG"])
        assert caught.value.code == Code.INVALID_ARGUMENT and "'broken'" in caught.value.message
        assert client.get_project("images").pool_size == 0

        assert client.add_items("images", ids, images=images) == 3
        client.submit_labels("images", {i: i for i in ids})
        again = [_image_bytes(pictures["cat"], 128, "JPEG", quality=70),
                 _image_bytes(pictures["cup"], 80, "JPEG", quality=70)]
        assert [p.label for p in client.predict("images", images=again)] == ["cat", "cup"]
        # The same pictures re-encoded as JPEG are duplicates: grouped, and they carry the labels.
        client.add_items("images", ["person-jpeg", "cup-jpeg"],
                         images=[_image_bytes(pictures[p], 96, "JPEG", quality=90) for p in ("person", "cup")])
        stats = client.stats("images")
        assert (stats.duplicate_groups, stats.grouped_items, stats.propagated) == (2, 4, 2)
        propagated = {(r.id, r.label) for r in client.export("images") if r.source == "propagated"}
        assert propagated == {("person-jpeg", "person"), ("cup-jpeg", "cup")}
    assert _tensorflow_loaded(server)  # an image encoder loads TensorFlow, on first use


# ------------------------------------------------------------------ knn-al load
def _load(server: ServerProcess, dataset: Path, project: str, *options: str) -> int:
    return main(["load", str(dataset), "--server", server.address, "--project", project, *options])


def test_load_embedded_texts_by_path_then_predict_raw_text(server: ServerProcess, tmp_path: Path, capsys) -> None:
    rows = [{"id": f"s{i}", "text": t, "label": "sport"} for i, t in enumerate(SPORT)]
    rows += [{"id": f"c{i}", "text": t, "label": "cooking" if i < 2 else None} for i, t in enumerate(COOKING)]
    (tmp_path / "texts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["embed", str(tmp_path / "texts.jsonl"), "-o", str(tmp_path / "ds"), "--quiet"]) == 0

    assert _load(server, tmp_path / "ds", "loaded-texts", "--create", "--import-labels") == 0
    out, err = capsys.readouterr()
    assert "created project 'loaded-texts': 512-d, encoder use-multilingual" in err  # a note
    assert "loaded 8 items into 'loaded-texts' (6 labels imported)" in out  # the result
    with server.client() as client:
        info = client.get_project("loaded-texts")
        assert (info.encoder, info.pool_size, info.label_counts) == ("use-multilingual", 8, {"sport": 4, "cooking": 2})
        prediction = client.predict("loaded-texts", texts=["Knead the dough until smooth."])[0]
        assert prediction.label == "cooking"


def test_load_upload_streams_a_dataset_the_server_cannot_see(server: ServerProcess, tmp_path: Path, capsys) -> None:
    ids, x, cluster = clustered_vectors(300, 16, clusters=2)
    write_dataset(tmp_path / "ds", ids=ids, vectors=x, encoder="custom", sources=ids,
                  labels=[f"c{c}" if i < 30 else None for i, c in enumerate(cluster)])
    assert _load(server, tmp_path / "ds", "uploaded", "--create", "--upload", "--import-labels") == 0
    assert "16-d, vectors only" in capsys.readouterr().err  # the note of --create
    with server.client() as client:
        info = client.get_project("uploaded")
        assert (info.pool_size, info.labeled_count, info.encoder) == (300, 30, "")
        assert client.predict("uploaded", [ids[200]])[0].label == f"c{cluster[200]}"
        assert client.next_sample("uploaded")[0].metadata["text"]


def test_load_errors_exit_nonzero_and_change_nothing(server: ServerProcess, tmp_path: Path, capsys) -> None:
    ids, x, _ = clustered_vectors(50, 16)
    write_dataset(tmp_path / "ds", ids=ids, vectors=x, encoder="custom", labels=["zebra"] * 50)
    with server.client() as client:
        client.create_project("fixed-set", 16, labels=["cat", "dog"])
    missing = tmp_path / "elsewhere"

    assert _load(server, missing, "fixed-set") == 1  # the server cannot see it
    assert "--upload" in capsys.readouterr().err
    assert _load(server, missing, "fixed-set", "--upload") == 2  # nor can we
    assert "no such dataset directory" in capsys.readouterr().err
    assert _load(server, tmp_path / "ds", "fixed-set", "--upload", "--import-labels") == 2
    assert "zebra" in capsys.readouterr().err
    assert _load(server, tmp_path / "ds", "fixed-set", "--import-labels") == 1
    err = capsys.readouterr().err
    assert "INVALID_ARGUMENT" in err and "zebra" in err
    assert _load(server, tmp_path / "ds", "no-such-project") == 1
    assert "NOT_FOUND" in capsys.readouterr().err
    assert _load(server, tmp_path / "ds", "wrong-encoder", "--create", "--encoder", "mobilenet_v1") == 1
    assert "1024-dimensional vectors, but dimension 16 was given" in capsys.readouterr().err

    manifest = tmp_path / "ds" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"complete": true', '"complete": false'))
    assert _load(server, tmp_path / "ds", "interrupted", "--create") == 1
    err = capsys.readouterr().err
    assert "incomplete dataset" in err and "deleted the project 'interrupted'" in err
    with server.client() as client:
        assert client.get_project("fixed-set").pool_size == 0
        assert {"no-such-project", "wrong-encoder", "interrupted"}.isdisjoint(p.name for p in client.list_projects())
