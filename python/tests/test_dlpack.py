"""DLPack both ways with torch (Debian's torch 1.13): no copies where the layout allows."""
import numpy as np
import pytest

import cudaseg

torch = pytest.importorskip("torch", reason="torch is not installed (python3-torch)")
import torch.utils.dlpack  # noqa: E402


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).standard_normal((1, 3, 64, 64)).astype(np.float32)


def test_torch_takes_the_logits_without_a_copy(session, x):
    out = session.logits(x)
    t = torch.from_dlpack(out)
    assert t.dtype == torch.float32 and tuple(t.shape) == out.shape
    t[0, 0, 0, 0] = 123.0
    assert out[0, 0, 0, 0] == 123.0
    t2 = torch.utils.dlpack.from_dlpack(out.__dlpack__())
    t2[0, 1, 2, 3] = -7.0
    assert out[0, 1, 2, 3] == -7.0


def test_torch_tensors_and_capsules_go_in(session, x):
    expected = session.logits(x)
    t = torch.from_numpy(x.copy())
    np.testing.assert_array_equal(session.logits(t), expected)
    np.testing.assert_array_equal(session.logits(torch.utils.dlpack.to_dlpack(t)), expected)
    # A channels-last tensor: NCHW strides over NHWC memory.
    np.testing.assert_array_equal(session.logits(t.contiguous(memory_format=torch.channels_last)), expected)
    np.testing.assert_array_equal(session.logits(t.double()), session.logits(x.astype(np.float64)))


def test_a_capsule_is_consumed_once(session, x):
    capsule = torch.utils.dlpack.to_dlpack(torch.from_numpy(x.copy()))
    session.logits(capsule)
    with pytest.raises(ValueError):
        session.logits(capsule)


def test_unsupported_dtypes_are_type_errors(session):
    with pytest.raises(TypeError, match="complex"):
        session.logits(torch.zeros((1, 3, 32, 32), dtype=torch.complex64))
    with pytest.raises(TypeError, match="complex"):
        session.logits(np.zeros((1, 3, 32, 32), np.complex64))
