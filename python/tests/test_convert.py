"""cudaseg.convert: .pth fixtures in, cudaseg checkpoints and .pth out; nothing in a .pth runs."""
import json

import numpy as np
import pytest

import cudaseg
from conftest import REPO

PTH = REPO / "tests" / "data" / "pth"


def test_a_wrapped_pth_fixture_converts_tensor_for_tensor(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (python3-torch)")
    expected = json.loads((PTH / "expected.json").read_text())["wrap_state_dict.pth"]
    written = cudaseg.convert(PTH / "wrap_state_dict.pth", out=tmp_path / "plain.pth", to="pth")
    assert str(written) == str(tmp_path / "plain.pth")
    state = torch.load(written)
    reference = expected.get("tensors") or json.loads((PTH / "expected.json").read_text())[expected["same_as"]]["tensors"]
    assert sorted(state) == sorted(reference)
    for name, t in state.items():
        assert t.numpy().tobytes().hex() == reference[name]["hex"], name
    manifest = cudaseg.convert(PTH / "wrap_state_dict.pth", out=tmp_path / "ours.bin")
    assert str(manifest) == str(tmp_path / "ours.json")
    assert sorted(t["name"] for t in json.loads(manifest.read_text())["tensors"]) == sorted(reference)


def test_an_mmseg_style_pth_converts_to_the_same_net(session, stdc_run, tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (python3-torch)")
    exported = cudaseg.convert(stdc_run["weights"], out=tmp_path / "export.pth", to="pth")
    state = torch.load(exported)
    torch.save({"state_dict": state, "meta": {"epoch": 3}}, tmp_path / "upstream.pth")
    converted = cudaseg.convert(tmp_path / "upstream.pth", REPO / "nets" / "stdc1.json", tmp_path / "stdc1.bin")
    x = np.random.default_rng(4).standard_normal((1, 3, 64, 64)).astype(np.float32)
    np.testing.assert_array_equal(cudaseg.Session(converted).logits(x), session.logits(x))


def test_a_malicious_pth_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("malicious_system.pth", "malicious_eval.pth"):
        with pytest.raises(cudaseg.Error) as e:
            cudaseg.convert(PTH / name, out=tmp_path / "x.bin")
        assert "refus" in str(e.value) or "not allowed" in str(e.value), str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_mismatched_config_lists_the_tensors(stdc_run, tmp_path):
    with pytest.raises(cudaseg.Error, match="missing"):
        cudaseg.convert(PTH / "wrap_state_dict.pth", REPO / "nets" / "stdc1.json", tmp_path / "x.bin")


def test_out_is_required():
    with pytest.raises(ValueError, match="out"):
        cudaseg.convert(PTH / "wrap_state_dict.pth")
