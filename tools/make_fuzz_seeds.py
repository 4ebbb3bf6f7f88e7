#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/ (manifest, blob, unpickler,
safetensors, config); the zip and pth harnesses start from tests/data/pth/*.pth,
the config harness from nets/*.json too.

The manifest seeds match the fixed blob of fuzz_manifest.cpp and the blob
seed matches the fixed manifest of fuzz_blob.cpp (blob id 00000000fuzzblob).
Needs only the standard library.
"""
import json
import os
import struct
import zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
TRAILER = b"CUDASEG-BLOB-v1\n00000000fuzzblob"


def write(kind, name, data):
    os.makedirs(os.path.join(CORPUS, kind), exist_ok=True)
    with open(os.path.join(CORPUS, kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def manifest(tensors, train_state=None):
    m = {"format": "cudaseg-checkpoint", "version": 1, "model": {"name": "stdc", "num_classes": 19},
         "preprocess": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": 1 / 255,
                        "channel_order": "RGB", "input_size": [512, 1024]},
         "classes": ["road", "car"], "palette": [[128, 64, 128], [0, 0, 142]], "metadata": {},
         "blob": {"file": "fuzz.bin", "id": "00000000fuzzblob", "size": 4096 + 32}, "tensors": tensors}
    if train_state:
        m["train_state"] = train_state
    return json.dumps(m, indent=1)


def main():
    t = lambda name, dtype, shape, offset, nbytes: {"name": name, "dtype": dtype, "shape": shape,
                                                    "offset": offset, "nbytes": nbytes}
    write("manifest", "plain.json", manifest([t("conv.weight", "float32", [4, 3, 3, 3], 0, 432),
                                              t("bn.num_batches_tracked", "int64", [], 448, 8),
                                              t("half", "float16", [5, 7], 512, 70)]))
    write("manifest", "train.json", manifest(
        [t("w", "bfloat16", [16], 0, 32)],
        {"step": 100, "epoch": 2, "rng": {"seed": 7, "offset": 4096}, "loader": {"index": 3},
         "optimizer": {"name": "sgd"}, "tensors": [t("momentum/w", "float32", [16], 64, 64)]}))
    write("manifest", "empty.json", manifest([]))

    blob = bytes((i * 29 + 3) & 255 for i in range(384)) + TRAILER
    write("blob", "valid.bin", blob)

    for name in ("dtypes", "views", "wrap_model", "malicious_system", "parameter", "zh320_last"):
        with zipfile.ZipFile(os.path.join(ROOT, "tests", "data", "pth", name + ".pth")) as z:
            write("unpickler", name + ".pkl", z.read(name + "/data.pkl"))
    # NumPy pickles (.pdparams, tools/make_layout_fixtures.py), protocols 2 and 4.
    for name in ("ppliteseg_tiny_p2", "ppliteseg_tiny_p4"):
        with open(os.path.join(ROOT, "tests", "data", "layouts", name + ".pdparams"), "rb") as f:
            write("unpickler", name + ".pkl", f.read())

    header = {"__metadata__": {"format": "pt"},
              "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "I64", "shape": [], "data_offsets": [24, 32]},
              "c": {"dtype": "BF16", "shape": [4], "data_offsets": [32, 40]},
              "d": {"dtype": "BOOL", "shape": [3], "data_offsets": [40, 43]}}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    write("safetensors", "mixed.safetensors",
          struct.pack("<Q", len(text)) + text + bytes((i * 41 + 5) & 255 for i in range(43)))

    # Run configs followed by --set overrides, one per line (fuzz_config.cpp).
    tiny = {"model": {"name": "fpenet", "num_classes": 3},
            "data": {"dataset": "synthetic", "num_classes": 3, "image_size": [32, 32]},
            "train": {"iters": 6, "batch_size": 2}}
    write("config", "overrides.txt", json.dumps(tiny) + "\n--set optimizer.lr=0.1\n--set model.k=2"
          "\n--set train.epochs=2\n--set train.iters=null")
    write("config", "nested_set.txt", json.dumps({"model": {"name": "stdc", "num_classes": 2}})
          + "\n--set model.encoder_type=stdc2\n--set augment.jitter.p=0.5\n--set val.mode=slide"
          "\n--set val.crop_size=[32,32]\n--set val.stride=[16,16]")
    write("config", "distill.txt", json.dumps({"model": {"name": "fastscnn", "num_classes": 4}})
          + "\n--set distill.teacher={\"model\":{\"name\":\"fastscnn\",\"num_classes\":4},"
          "\"checkpoint\":\"teacher.json\"}")


if __name__ == "__main__":
    main()
