"""Deterministic parameters by name: the Python half of cudaseg's det_param.

The C++ half is nets/param_init.{h,cpp}; both must produce bit-identical
float32 values. This file's RULES table is the one source of truth for the
rule; the C++ header repeats it and tests/nn/test_param_init.cpp pins literal
values produced here (run `python3 tools/goldens/detparams.py --selftest` to
print them).

Stream. For a tensor called NAME and a seed S:
    key   = fnv1a64(utf8(NAME)) XOR splitmix64(S)                 (uint64)
    bits_i = philox4x32_10(counter = i // 4, key).lane[i % 4]     (runtime/philox.h bits(key, i))
    u_i   = (bits_i >> 8) * 2^-24                                 (philox::uniform, exact)
    value_i = float32( double(lo) + double(span) * u_i )          (philox::scaled_uniform)
with lo = float32(low), span = float32(high - low), high - low computed in
double. Element i is the i-th element of the tensor in row-major (contiguous)
order. fnv1a64: offset 0xcbf29ce484222325, prime 0x100000001b3, over bytes.
splitmix64(z): z += 0x9E3779B97F4A7C15; z = (z ^ z>>30) * 0xBF58476D1CE4E5B9;
z = (z ^ z>>27) * 0x94D049BB133111EB; z ^ z>>31 (all mod 2^64).

Rules, first match wins, by the NAME's last dot-separated component ("suffix")
and the shape (ndim = len(shape)):
  1. suffix num_batches_tracked              -> zeros, int64          (ZERO_INT)
  2. any other integer dtype                 -> not generated: the model's own
                                                value is kept           (KEEP)
  3. suffix running_mean                     -> U[-0.2, 0.2]          (RUNNING_MEAN)
  4. suffix running_var                      -> U[0.5, 1.5]           (RUNNING_VAR)
  5. suffix weight, ndim >= 2                -> U[-b, b], b = sqrt(3 / fan_in),
        fan_in = shape[1] * prod(shape[2:]), b computed in double (FAN_IN):
        variance 1/fan_in (LeCun). PyTorch's default bound 1/sqrt(fan_in)
        shrinks the signal ~3x per layer, and with eval-mode BatchNorm the
        logits of these deep nets become nearly independent of the input
        (measured: 1e-4 relative change for a new input in BiSeNetv2), which
        would make the goldens blind to early-layer bugs.
  6. suffix weight, ndim == 1, numel == 1    -> U[0.05, 0.45]  (PReLU slope) (SCALAR_WEIGHT)
  7. suffix weight, ndim == 1                -> U[0.5, 1.5]   (BN/LN/GN scale) (NORM_WEIGHT)
  8. suffix bias                             -> U[-0.2, 0.2]  (any bias)      (BIAS)
  9. anything else floating                  -> U[-0.1, 0.1]                  (OTHER)
So BatchNorm is never the identity, LayerNorm weight/bias follow 7/8.

Non-parameter streams used by the goldens (same key rule, other names):
  "input": model input, U[-1, 1] by rule-free det_uniform.
  "labels": int64 labels: r = bits_i >> 8; 255 if r % 10 == 0 else (r // 10) % C.
  "sample_idx/<what>": flat sample indices: bits_i % numel (with repeats allowed).
"""

import argparse
import math
import sys

import numpy as np

M64 = (1 << 64) - 1

# Rule table: (id, name, low, high) for the fixed-range rules; FAN_IN computes its bound.
RULES = {
    "ZERO_INT": None,
    "KEEP": None,
    "RUNNING_MEAN": (-0.2, 0.2),
    "RUNNING_VAR": (0.5, 1.5),
    "FAN_IN": None,
    "SCALAR_WEIGHT": (0.05, 0.45),
    "NORM_WEIGHT": (0.5, 1.5),
    "BIAS": (-0.2, 0.2),
    "OTHER": (-0.1, 0.1),
}


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def stream_key(name: str, seed: int) -> int:
    return fnv1a64(name.encode("utf-8")) ^ splitmix64(seed & M64)


def philox_bits(key: int, start: int, count: int) -> np.ndarray:
    """bits(key, start + i) for i < count, as uint32 (runtime/philox.h)."""
    if count == 0:
        return np.zeros(0, dtype=np.uint32)
    first = start >> 2
    last = (start + count - 1) >> 2
    ctr = np.arange(first, last + 1, dtype=np.uint64)
    m32 = np.uint64(0xFFFFFFFF)
    c0 = ctr & m32
    c1 = ctr >> np.uint64(32)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0 = key & 0xFFFFFFFF
    k1 = (key >> 32) & 0xFFFFFFFF
    A = np.uint64(0xD2511F53)
    B = np.uint64(0xCD9E8D57)
    for _ in range(10):
        p0 = A * c0  # < 2^64: no overflow
        p1 = B * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & m32
        hi1, lo1 = p1 >> np.uint64(32), p1 & m32
        n0 = hi1 ^ c1 ^ np.uint64(k0)
        n2 = hi0 ^ c3 ^ np.uint64(k1)
        c0, c1, c2, c3 = n0, lo1, n2, lo0
        k0 = (k0 + 0x9E3779B9) & 0xFFFFFFFF
        k1 = (k1 + 0xBB67AE85) & 0xFFFFFFFF
    lanes = np.stack([c0, c1, c2, c3], axis=1).reshape(-1).astype(np.uint32)
    off = start - (first << 2)
    return lanes[off:off + count]


def det_bits(name: str, count: int, seed: int) -> np.ndarray:
    return philox_bits(stream_key(name, seed), 0, count)


def det_uniform(name: str, shape, low: float, high: float, seed: int) -> np.ndarray:
    """float32 array of `shape`: element i = float32(lo + span * u_i) (see module doc)."""
    n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    bits = det_bits(name, n, seed)
    u = (bits >> np.uint32(8)).astype(np.float64) * (1.0 / 16777216.0)
    lo = float(np.float32(low))
    span = float(np.float32(float(high) - float(low)))
    vals = (np.float64(lo) + np.float64(span) * u).astype(np.float32)
    return vals.reshape(tuple(shape))


def det_labels(name: str, shape, num_classes: int, seed: int) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    r = (det_bits(name, n, seed) >> np.uint32(8)).astype(np.int64)
    lab = np.where(r % 10 == 0, 255, (r // 10) % num_classes)
    return lab.astype(np.int64).reshape(tuple(shape))


def det_indices(name: str, count: int, numel: int, seed: int) -> np.ndarray:
    return (det_bits(name, count, seed).astype(np.int64) % numel).astype(np.int64)


def rule_for(name: str, shape, is_integer: bool) -> str:
    suffix = name.rsplit(".", 1)[-1]
    ndim = len(shape)
    numel = int(np.prod(shape, dtype=np.int64)) if ndim else 1
    if suffix == "num_batches_tracked":
        return "ZERO_INT"
    if is_integer:
        return "KEEP"
    if suffix == "running_mean":
        return "RUNNING_MEAN"
    if suffix == "running_var":
        return "RUNNING_VAR"
    if suffix == "weight":
        if ndim >= 2:
            return "FAN_IN"
        if ndim == 1 and numel == 1:
            return "SCALAR_WEIGHT"
        if ndim == 1:
            return "NORM_WEIGHT"
    if suffix == "bias":
        return "BIAS"
    return "OTHER"


def rule_range(rule: str, shape):
    if rule == "FAN_IN":
        fan_in = int(shape[1]) * int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else int(shape[1])
        b = math.sqrt(3.0 / float(fan_in))
        return (-b, b)
    return RULES[rule]


def det_param(name: str, shape, seed: int, is_integer: bool = False):
    """numpy value for a state_dict entry, or None for KEEP."""
    rule = rule_for(name, shape, is_integer)
    if rule == "KEEP":
        return None
    if rule == "ZERO_INT":
        return np.zeros(tuple(shape), dtype=np.int64)
    low, high = rule_range(rule, shape)
    return det_uniform(name, shape, low, high, seed)


def fill_module(model, seed: int):
    """Overwrites every parameter and buffer of a torch module in place; returns {name: rule}."""
    import torch
    rules = {}
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            is_int = not t.is_floating_point()
            rule = rule_for(name, list(t.shape), is_int)
            rules[name] = rule
            v = det_param(name, list(t.shape), seed, is_int)
            if v is None:
                continue
            t.copy_(torch.from_numpy(v).to(t.dtype))
    return rules


def _selftest():
    # Philox known-answer vector (Random123 kat_vectors: philox4x32_10, ctr 0, key 0).
    ref0 = [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    got = [int(x) for x in philox_bits(0, 0, 4)]
    assert got == ref0, [hex(x) for x in got]
    # Windows of a stream agree with the whole stream.
    key = stream_key("x", 3)
    whole = philox_bits(key, 0, 40)
    assert (philox_bits(key, 5, 30) == whole[5:35]).all()
    cases = [("stage1.0.weight", [32, 3, 3, 3]), ("stage1.1.running_var", [32]),
             ("encoder.encoder.stage3.0.block1.1.bias", [128]),
             ("initial.conv.2.activation.weight", [1]),
             ("block1.0.attn.kv.weight", [64, 32])]
    for seed in (0, 1234):
        for name, shape in cases:
            v = det_param(name, shape, seed)
            first = [f"0x{int(x):08x}" for x in v.reshape(-1)[:4].view(np.uint32)]
            s = float(np.sum(v.astype(np.float64)))
            print(f"seed {seed} {name} {shape} {rule_for(name, shape, False)} first4 {first} "
                  f"({', '.join(repr(float(x)) for x in v.reshape(-1)[:4])}) sum {s!r} key 0x{stream_key(name, seed):016x}")
    inp = det_uniform("input", [1, 3, 4, 5], -1.0, 1.0, 7)
    print("input seed 7 first4", [f"0x{int(x):08x}" for x in inp.reshape(-1)[:4].view(np.uint32)])
    print("labels seed 7", det_labels("labels", [2, 10], 19, 7).reshape(-1).tolist())
    print("selftest ok")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    if a.selftest:
        _selftest()
    else:
        ap.print_help()
        sys.exit(2)
