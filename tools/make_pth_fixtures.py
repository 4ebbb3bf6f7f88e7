#!/usr/bin/python3
"""Writes the .pth fixtures of tests/weights into tests/data/pth/.

Run with Debian's PyTorch: /usr/bin/python3 tools/make_pth_fixtures.py
Every valid fixture gets an entry in expected.json: per tensor its dtype, shape
and the hex of its contiguous little-endian bytes, so the C++ tests compare bit
for bit. Broken fixtures get the substring their error message must contain.
The malicious ones would create MARKER if anything in them were executed.
"""
import collections
import io
import json
import os
import struct
import sys
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "pth")
MARKER = "/tmp/cudaseg_pth_fixture_was_executed"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)

gen = torch.Generator().manual_seed(1234)


def randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=gen).to(dtype)


def randint(low, high, *shape, dtype=torch.int64):
    return torch.randint(low, high, shape, generator=gen).to(dtype)


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes().hex()


DTYPE_NAMES = {
    torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
    torch.float64: "float64", torch.int64: "int64", torch.int32: "int32",
    torch.uint8: "uint8", torch.bool: "bool",
}


def describe(state):
    return {name: {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "hex": tensor_bytes(t)}
            for name, t in state.items()}


def path(name):
    return os.path.join(OUT, name)


def save(name, obj, **kwargs):
    torch.save(obj, path(name), **kwargs)


def rezip(src, dst, compression):
    """Copies a torch zip with another compression (and ZIP64 records when asked)."""
    with zipfile.ZipFile(path(src)) as zin, zipfile.ZipFile(path(dst), "w", compression) as zout:
        for info in zin.infolist():
            out = zipfile.ZipInfo(info.filename, FIXED_TIME)
            out.compress_type = compression
            zout.writestr(out, zin.read(info.filename))


def replace_entry(src, dst, suffix, transform):
    """Copies a zip, passing the entry ending in `suffix` through `transform`."""
    with zipfile.ZipFile(path(src)) as zin, zipfile.ZipFile(path(dst), "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith(suffix):
                data = transform(data)
            zout.writestr(zipfile.ZipInfo(info.filename, FIXED_TIME), data)


class RunsCommand:
    """Pickles as a call of `func(arg)`: what a malicious checkpoint does."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def small_model_state():
    torch.manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 2, 1))
    model[1].running_mean.copy_(randn(4))
    model[1].running_var.copy_(randn(4).abs() + 0.5)
    model[1].num_batches_tracked.fill_(17)
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}

    special = torch.tensor([float("inf"), float("-inf"), float("nan"), -0.0, 1e-40, 3.5, -2.25])
    dtypes = collections.OrderedDict([
        ("f32", randn(3, 4)),
        ("f32_special", special),
        ("f16", randn(2, 5, dtype=torch.float16)),
        ("bf16", randn(6, dtype=torch.bfloat16)),
        ("f64", randn(2, 3, dtype=torch.float64)),
        ("i64", randint(-1 << 40, 1 << 40, 5)),
        ("i32", randint(-100000, 100000, 2, 2, dtype=torch.int32)),
        ("u8", randint(0, 256, 7, dtype=torch.uint8)),
        ("bool", randint(0, 2, 9, dtype=torch.bool)),
        ("bn.num_batches_tracked", torch.tensor(123456789012, dtype=torch.int64)),
        ("attn.relative_position_index", randint(0, 49, 4, 4)),
        ("attn.attention_bias_idxs", randint(0, 16, 3, 5)),
        ("empty", torch.empty(0, 3)),
    ])
    save("dtypes.pth", dtypes)
    expected["dtypes.pth"] = {"tensors": describe(dtypes)}

    base = randn(40)
    other = randn(4, 6)
    views = collections.OrderedDict([
        ("base", base),
        ("offset_slice", base[5:17]),
        ("transposed", base[:30].view(5, 6).t()),
        ("stepped", base[1::3]),
        ("column", other[:, 2]),
        ("other_block", other[1:3, 2:5]),
        ("expanded", randn(3, 1).expand(3, 4)),
    ])
    save("views.pth", views)
    expected["views.pth"] = {"tensors": describe(views), "shared": [["base", "offset_slice"], ["column", "other_block"]]}

    model = small_model_state()
    # Cloned: state_dict() aliases the parameters, which the optimizer steps below change.
    state = collections.OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    sgd = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model(randn(1, 3, 5, 5)).square().sum().backward()
    sgd.step()
    sched = torch.optim.lr_scheduler.StepLR(sgd, step_size=3)
    described = describe(state)
    # zh320's trainers: {'cur_epoch', 'best_score', 'state_dict', 'optimizer', 'scheduler'}.
    save("wrap_state_dict.pth", {"cur_epoch": 12, "best_score": 0.6125, "state_dict": state,
                                 "optimizer": sgd.state_dict(), "scheduler": sched.state_dict()})
    expected["wrap_state_dict.pth"] = {"tensors": described, "wrapper": "state_dict"}
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(randn(1, 3, 5, 5)).sum().backward()
    adam.step()
    save("wrap_model.pth", {"model": state, "optimizer": adam.state_dict(), "epoch": 3, "note": None,
                            "flags": [True, False, 2.5, (1, "x")]})
    expected["wrap_model.pth"] = {"tensors": described, "wrapper": "model"}
    save("wrap_model_state_dict.pth", {"epoch": 9, "model_state_dict": state})
    expected["wrap_model_state_dict.pth"] = {"tensors": described, "wrapper": "model_state_dict"}
    save("wrap_ema.pth", {"ema": state, "updates": 1000})
    expected["wrap_ema.pth"] = {"tensors": described, "wrapper": "ema"}

    parallel = torch.nn.DataParallel(small_model_state())
    save("module_prefix.pth", parallel.state_dict())
    expected["module_prefix.pth"] = {"tensors": describe(parallel.module.state_dict())}

    params = collections.OrderedDict([("weight", torch.nn.Parameter(randn(2, 3))),
                                      ("frozen", torch.nn.Parameter(randn(3), requires_grad=False))])
    save("parameter.pth", params)
    expected["parameter.pth"] = {"tensors": describe(params)}

    rezip("dtypes.pth", "deflated.pth", zipfile.ZIP_DEFLATED)
    expected["deflated.pth"] = dict(expected["dtypes.pth"], same_as="dtypes.pth")
    limit = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 16  # forces ZIP64 extra fields and the ZIP64 end records
    rezip("views.pth", "zip64.pth", zipfile.ZIP_STORED)
    zipfile.ZIP64_LIMIT = limit
    # torch.load itself refuses this re-zipped file, hence same_as for round trips.
    expected["zip64.pth"] = dict(expected["views.pth"], same_as="views.pth")

    save("malicious_system.pth", {"weight": randn(2), "payload": RunsCommand(os.system, "touch " + MARKER)})
    expected["malicious_system.pth"] = {"error": "'posix.system'"}
    save("malicious_eval.pth", {"payload": RunsCommand(eval, "open('%s', 'w')" % MARKER)})
    expected["malicious_eval.pth"] = {"error": "'__builtin__.eval'"}

    save("legacy.pth", {"w": randn(3)}, _use_new_zipfile_serialization=False)
    expected["legacy.pth"] = {"error": "_use_new_zipfile_serialization=True"}

    whole = open(path("dtypes.pth"), "rb").read()
    open(path("truncated.pth"), "wb").write(whole[: len(whole) * 2 // 3])
    expected["truncated.pth"] = {"error": "end of central directory"}

    # The central directory entry of data/0 claims a local header far past the end.
    data = bytearray(whole)
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(b"data/0") + 1)
    struct.pack_into("<I", data, central + 42, 0x7FFFFF00)
    open(path("oversized_offset.pth"), "wb").write(bytes(data))
    expected["oversized_offset.pth"] = {"error": "local header"}

    # The pickle claims a [127, 127] view of a 12-element storage.
    replace_entry("dtypes.pth", "oversized_view.pth", "data.pkl",
                  lambda pkl: pkl.replace(b"K\x03K\x04\x86", b"K\x7fK\x7f\x86", 1))
    expected["oversized_view.pth"] = {"error": "f32"}

    rng = torch.Generator().manual_seed(99)
    garbage = bytes(torch.randint(0, 256, (300,), generator=rng, dtype=torch.uint8).tolist())
    open(path("bad_zip.pth"), "wb").write(b"PK\x03\x04" + garbage)
    expected["bad_zip.pth"] = {"error": "end of central directory"}

    # One flipped byte in a stored tensor record: the CRC no longer matches.
    data = bytearray(whole)
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(b"data/0") + 1)
    local = struct.unpack_from("<I", data, central + 42)[0]
    name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
    data[local + 30 + name_len + extra_len] ^= 0x40
    open(path("bad_crc.pth"), "wb").write(bytes(data))
    expected["bad_crc.pth"] = {"error": "CRC"}

    # zh320's last.pth: OneCycleLR's state holds its anneal_func, a bound
    # method, pickled as builtins.getattr(OneCycleLR object, name).
    model = small_model_state()
    state = collections.OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    sgd = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    onecycle = torch.optim.lr_scheduler.OneCycleLR(sgd, max_lr=0.1, total_steps=20)
    for _ in range(3):
        sgd.zero_grad()
        model(randn(1, 3, 5, 5)).square().sum().backward()
        sgd.step()
        onecycle.step()
    save("zh320_last.pth", {"cur_epoch": 3, "best_score": 0.25, "state_dict": state,
                            "optimizer": sgd.state_dict(), "scheduler": onecycle.state_dict()})
    expected["zh320_last.pth"] = {"tensors": describe(state), "wrapper": "state_dict",
                                  "skipped": ["'scheduler'", "getattr", "OneCycleLR"]}
    # A payload in a branch the conversion skips: a placeholder, never run.
    evil_optimizer = sgd.state_dict()
    evil_optimizer["payload"] = RunsCommand(os.system, "touch " + MARKER)
    save("malicious_optimizer.pth", {"cur_epoch": 3, "state_dict": state, "optimizer": evil_optimizer})
    expected["malicious_optimizer.pth"] = {"tensors": describe(state), "wrapper": "state_dict",
                                           "skipped": ["'optimizer'", "'posix.system'"]}
    # ... and inside the state dict: refused.
    evil_state = collections.OrderedDict(state)
    evil_state["evil"] = RunsCommand(os.system, "touch " + MARKER)
    save("malicious_state_dict.pth", {"cur_epoch": 3, "state_dict": evil_state})
    expected["malicious_state_dict.pth"] = {"error": "refusing to load global 'posix.system'"}

    with open(path("expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    print("wrote", len(expected), "fixtures to", os.path.normpath(OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
