#!/usr/bin/python3
"""Checks .pth files exported by cudaseg against the originals, bit for bit.

usage: check_pth_roundtrip.py ORIGINAL EXPORTED [--shared A,B ...] [ORIGINAL EXPORTED ...]

Each EXPORTED must load with torch.load(..., weights_only=True) as an
OrderedDict whose names, order, dtypes, shapes and bytes equal the state dict
inside ORIGINAL (unwrapped from state_dict/model_state_dict/model/ema, with a
DataParallel "module." prefix stripped). --shared A,B additionally requires
that tensors A and B of EXPORTED share one storage. Exit status 0 when all
match; otherwise the first difference is printed and the status is 1.
"""
import collections
import sys

import torch


def unwrap(obj):
    if all(torch.is_tensor(v) for v in obj.values()):
        state = obj
    else:
        key = next(k for k in ("state_dict", "model_state_dict", "model", "ema")
                   if isinstance(obj.get(k), dict) and obj[k] and all(torch.is_tensor(v) for v in obj[k].values()))
        state = obj[key]
    if state and all(k.startswith("module.") for k in state):
        state = collections.OrderedDict((k[len("module."):], v) for k, v in state.items())
    return state


def raw(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def check(original, exported, shared):
    want = unwrap(torch.load(original, map_location="cpu"))
    got = torch.load(exported, map_location="cpu", weights_only=True)
    if not isinstance(got, collections.OrderedDict):
        return "%s: loads as %s, not an OrderedDict" % (exported, type(got).__name__)
    if list(got.keys()) != list(want.keys()):
        return "%s: names %s != %s" % (exported, list(got.keys()), list(want.keys()))
    for name, t in want.items():
        u = got[name]
        if u.dtype != t.dtype or u.shape != t.shape or raw(u) != raw(t):
            return "%s: tensor %s differs (%s %s vs %s %s)" % (exported, name, u.dtype, tuple(u.shape),
                                                               t.dtype, tuple(t.shape))
    for a, b in shared:
        if got[a].storage().data_ptr() != got[b].storage().data_ptr():
            return "%s: %s and %s no longer share a storage" % (exported, a, b)
    return None


def main(argv):
    pairs, shared = [], {}
    i = 0
    while i < len(argv):
        if argv[i] == "--shared":
            shared.setdefault(len(pairs) - 1, []).append(tuple(argv[i + 1].split(",")))
            i += 2
        else:
            pairs.append((argv[i], argv[i + 1]))
            i += 2
    for index, (original, exported) in enumerate(pairs):
        problem = check(original, exported, shared.get(index, []))
        if problem:
            print(problem)
            return 1
        print("ok", exported)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
