"""Library failures arrive as cudaseg.Error, a RuntimeError, with the C++ message."""
import pathlib
import shutil

import numpy as np
import pytest

import cudaseg
from conftest import REPO


def test_error_is_a_runtime_error():
    assert issubclass(cudaseg.Error, RuntimeError)


def test_a_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(cudaseg.Error, match="nowhere.json"):
        cudaseg.Session(tmp_path / "nowhere.json")


def test_a_wrong_image_shape_gets_the_sessions_message(session):
    with pytest.raises(cudaseg.Error, match=r"predict: the image must be u8 \[H, W, 3\]"):
        session.predict(np.zeros((16, 16), np.uint8))
    with pytest.raises(cudaseg.Error, match="logits: the input must be a floating NCHW tensor"):
        session.logits(np.zeros((1, 3, 32, 32), np.uint8))


def test_device_and_precision_errors(stdc_run):
    with pytest.raises(cudaseg.Error, match="precision"):
        cudaseg.Session(stdc_run["weights"], precision="fp8")
    if "cuda" not in cudaseg.compiled_backends():
        with pytest.raises(cudaseg.Error, match="CUDA"):
            cudaseg.Session(stdc_run["weights"], device="cuda")


def test_a_corrupt_blob_is_refused(stdc_run, tmp_path):
    src = pathlib.Path(stdc_run["weights"])
    shutil.copy(src, tmp_path / src.name)
    blob = bytearray(src.with_suffix(".bin").read_bytes())
    blob[200] ^= 0xFF
    (tmp_path / src.with_suffix(".bin").name).write_bytes(bytes(blob))
    with pytest.raises(cudaseg.Error, match="stage1.0.weight"):
        cudaseg.Session(tmp_path / src.name)
    # verify=False skips the checksums (trusted files).
    assert cudaseg.Session(tmp_path / src.name, verify=False).num_classes == 8


def test_a_config_error_names_the_key(tmp_path):
    with pytest.raises(cudaseg.Error, match="did you mean 'iters'"):
        cudaseg.train(REPO / "nets" / "stdc1.json", {"train.itres": 3}, out=tmp_path)
