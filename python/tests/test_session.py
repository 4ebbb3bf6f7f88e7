"""cudaseg.Session: predict at any size, logits as the C++ session computes them."""
import subprocess
import threading

import numpy as np
import pytest

import cudaseg
from conftest import REPO, tool


def test_predict_returns_labels_of_the_image_size_at_a_size_the_net_cannot_take(session):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    assert session.size_divisor == 32
    assert session.input_size_for(37, 53) == [64, 64]
    labels = session.predict(image)
    assert labels.shape == (37, 53)
    assert labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() < session.num_classes == 8


def test_predict_matches_rtseg_infer(session, stdc_run, tmp_path):
    image_path = REPO / "tests" / "data" / "images" / "gradient_13x7.png"
    out = tmp_path / "seg"
    subprocess.run([tool("rtseg_infer"), "--weights", stdc_run["weights"], "--out", str(out), "--quiet",
                    str(image_path)], check=True, capture_output=True)
    expected = cudaseg.read_image(out / "gradient_13x7_label.png")[:, :, 0]
    image = cudaseg.read_image(image_path)
    assert image.shape == (7, 13, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(session.predict(image), expected)
    # A strided view gives the same labels as the contiguous array.
    wide = np.zeros((7, 26, 3), np.uint8)
    wide[:, ::2] = image
    np.testing.assert_array_equal(session.predict(wide[:, ::2]), expected)


def test_fit_and_size_choose_the_nets_input_size(stdc_run):
    weights = stdc_run["weights"]
    assert cudaseg.Session(weights, fit="keep").input_size_for(37, 53) == [37, 53]
    resized = cudaseg.Session(weights, size=(64, 96))
    assert resized.fit == "resize" and resized.input_size_for(37, 53) == [64, 96]
    assert resized.predict(np.zeros((37, 53, 3), np.uint8)).shape == (37, 53)
    with pytest.raises(ValueError, match="fit"):
        cudaseg.Session(weights, fit="stretch")


def test_logits_equal_the_cpp_sessions(session, stdc_run, tmp_path):
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 96)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([tool("rtseg_infer"), "--weights", stdc_run["weights"], "--input-tensor", str(tmp_path / "x.npy"),
                    "--dump-logits", str(tmp_path / "y.npy")], check=True, capture_output=True)
    expected = np.load(tmp_path / "y.npy")
    got = session.logits(x)
    assert got.dtype == np.float32 and got.shape == expected.shape == (2, 8, 64, 96)
    np.testing.assert_array_equal(got, expected)
    # Views NumPy reads in place (transposed memory) and the one it copies (reversed) give the same numbers.
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(session.logits(nhwc.transpose(0, 3, 1, 2)), expected)
    flipped = np.ascontiguousarray(x[:, :, :, ::-1])
    np.testing.assert_array_equal(session.logits(flipped[:, :, :, ::-1]), expected)


def test_threads_and_concurrent_callers_give_the_same_numbers(stdc_run):
    x = np.random.default_rng(2).standard_normal((1, 3, 64, 64)).astype(np.float32)
    one = cudaseg.Session(stdc_run["weights"], threads=1)
    expected = one.logits(x)
    results = [None] * 4

    def work(i):
        results[i] = one.logits(x)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_long_calls_release_the_gil(session):
    image = np.zeros((1024, 1024, 3), np.uint8)
    session.predict(image)  # plans the shape
    spins = 0
    worker = threading.Thread(target=session.predict, args=(image,))
    worker.start()
    while worker.is_alive():
        spins += 1
    worker.join()
    # Holding the GIL, the call would leave this thread a few switch intervals at most.
    assert spins > 10000


def test_properties(session):
    assert session.model["name"] == "stdc"
    assert session.model["num_classes"] == 8
    assert len(session.class_names) == 8
    assert "stdc" in repr(session)
    assert "cpu" in cudaseg.compiled_backends()
