"""A run's TensorBoard event files, read by TensorBoard's own reader
(EventAccumulator), hold the values of metrics.jsonl: every scalar at every
step, once, through a resume that redoes steps a killed run had logged, and
the validation prediction grid as a PNG image.

usage: check_tensorboard.py RTSEG_TRAIN SOURCE_DIR TOOLS_VENV
Exits 77 (skipped) where the tensorboard package is absent from this Python
and from TOOLS_VENV (scripts/setup.sh's cudaseg_make_tools_venv makes it)."""
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_run  # noqa: E402


def import_tensorboard(venv):
    try:
        from tensorboard.backend.event_processing import event_accumulator
        return event_accumulator
    except ImportError:
        python = os.path.join(venv, "bin", "python")
        if os.path.exists(python) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
            os.execv(python, [python] + sys.argv)
        print(f"skipped: the tensorboard package is not installed here nor in {venv} "
              "(scripts/setup.sh: cudaseg_make_tools_venv)")
        sys.exit(tiny_run.SKIP)


def expected_scalars(metrics_path):
    """tag -> [(step, value)] as train/run_report.h maps metrics.jsonl to TensorBoard tags."""
    out = {}

    def add(tag, step, value):
        out.setdefault(tag, []).append((step, math.nan if value is None else value))

    with open(metrics_path) as f:
        for line in f:
            r = json.loads(line)
            s = r["step"]
            if r["type"] == "train":
                add("loss/total", s, r["loss"])
                for name, v in r["terms"].items():
                    add("loss/" + name, s, v)
                add("train/lr", s, r["lr"])
                add("train/images_per_s", s, r["images_per_s"])
                if "loss_scale" in r:
                    add("train/loss_scale", s, r["loss_scale"])
            else:
                add("val/miou", s, r["miou"])
                add("val/pixel_acc", s, r["pixel_acc"])
                for name, v in r["iou"].items():
                    add("val_iou/" + name, s, v)
    return out


def check_png(data, what):
    """Decodes the PNG far enough to know it is whole: chunks and their CRCs,
    the header, and the inflated pixel rows of an 8-bit RGB image."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{what}: not a PNG"
    at, idat, header = 8, b"", None
    while at < len(data):
        n, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + n]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[at + 8 + n:at + 12 + n])[0], f"{what}: bad CRC"
        if kind == b"IHDR":
            header = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        at += 12 + n
    width, height, depth, colour = header
    assert (depth, colour) == (8, 2), f"{what}: not 8-bit RGB"
    rows = zlib.decompress(idat)
    assert len(rows) == height * (1 + 3 * width), f"{what}: {len(rows)} bytes of pixels for {width}x{height}"
    assert all(rows[y * (1 + 3 * width)] <= 4 for y in range(height)), f"{what}: bad row filter"
    return width, height


def same(expected, actual):
    e = struct.unpack("f", struct.pack("f", expected))[0] if math.isfinite(expected) else expected
    return (math.isnan(e) and math.isnan(actual)) or e == actual


def main():
    rtseg_train, source_dir, venv = sys.argv[1:4]
    event_accumulator = import_tensorboard(venv)
    work = tempfile.mkdtemp(prefix="cudaseg_check_tb_")
    run = os.path.join(work, "run")
    try:
        # Steps 1-2, then 3-4 from the checkpoint at 2; then the checkpoint at 2
        # comes back, as if the second run had been killed after logging steps
        # 3 and 4, and a resume redoes them: their first logs must not count.
        tiny_run.train(rtseg_train, source_dir, run, "--set", "train.iters=2")
        saved = os.path.join(work, "saved")
        os.mkdir(saved)
        for f in ("last.json", "last.bin"):
            shutil.copy(os.path.join(run, f), saved)
        tiny_run.train(rtseg_train, source_dir, run, "--resume", run)
        for f in ("last.json", "last.bin"):
            shutil.copy(os.path.join(saved, f), run)
        tiny_run.train(rtseg_train, source_dir, run, "--resume", run)

        tb = os.path.join(run, "tb")
        files = sorted(f for f in os.listdir(tb) if f.startswith("events.out.tfevents."))
        assert len(files) == 3, f"expected an event file per run, found {files}"
        acc = event_accumulator.EventAccumulator(tb, size_guidance={event_accumulator.SCALARS: 0,
                                                                    event_accumulator.IMAGES: 0})
        acc.Reload()
        expected = expected_scalars(os.path.join(run, "metrics.jsonl"))
        tags = acc.Tags()
        assert set(tags["scalars"]) == set(expected), \
            f"scalar tags differ: only in TensorBoard {set(tags['scalars']) - set(expected)}, " \
            f"only in metrics.jsonl {set(expected) - set(tags['scalars'])}"
        for tag in ("loss/total", "train/lr", "train/images_per_s", "val/miou", "val/pixel_acc"):
            assert tag in expected, f"metrics.jsonl has no {tag}"
        assert sum(t.startswith("loss/") for t in expected) >= 3, "expected the total and two loss terms"
        assert sum(t.startswith("val_iou/") for t in expected) == 8, "expected 8 classes' IoU"
        count = 0
        for tag, values in expected.items():
            got = [(e.step, e.value) for e in acc.Scalars(tag)]
            assert [s for s, _ in got] == [s for s, _ in values], f"{tag}: steps {got} vs {values}"
            for (step, want), (_, have) in zip(values, got):
                assert same(want, have), f"{tag} at step {step}: TensorBoard {have}, metrics.jsonl {want}"
                count += 1
        assert [s for s, _ in expected["loss/total"]] == [1, 2, 3, 4]

        assert tags["images"] == ["val/predictions"], tags["images"]
        images = acc.Images("val/predictions")
        assert [i.step for i in images] == [s for s, _ in expected["val/miou"]]
        for i in images:
            assert check_png(i.encoded_image_string, f"image at step {i.step}") == (i.width, i.height)
        with open(os.path.join(run, "val_predictions.png"), "rb") as f:
            assert images[-1].encoded_image_string == f.read(), "the last image is not val_predictions.png"
        print(f"ok: {len(expected)} scalar tags, {count} values equal to metrics.jsonl across {len(files)} "
              f"event files; {len(images)} images of {images[-1].width}x{images[-1].height}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
