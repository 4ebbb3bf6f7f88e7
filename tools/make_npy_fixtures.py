#!/usr/bin/python3
"""Writes the .npy fixtures of tests/infer (tests/data/infer/npy/) with numpy.

  /usr/bin/python3 tools/make_npy_fixtures.py [--out tests/data/infer/npy]

Valid files: one per supported dtype, header versions 2.0 and 3.0, 0-d and
1-d shapes, an empty array; expected.json lists each one's dtype, shape and
values. Invalid files (the test expects a clear error): Fortran order, a
big-endian and an unsupported dtype, truncated data, trailing bytes, a bad
magic, a header running past the end, a malformed header, a bool byte of 2.
"""

import argparse
import json
import os

import numpy as np
from numpy.lib import format as npf


def values(shape, dtype):
    n = int(np.prod(shape)) if shape else 1
    i = np.arange(n, dtype=np.float64)
    if dtype == np.bool_:
        v = (i * 7 % 3) == 1
    elif np.issubdtype(dtype, np.integer):
        v = (i * 37 % 11 - 5) * (1 if dtype == np.uint8 else 123457)
        if dtype == np.uint8:
            v = i * 53 % 256
    else:
        v = np.sin(i * 0.7 + 0.3) * 3.5
    return np.ascontiguousarray(v.astype(dtype).reshape(shape))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "infer", "npy"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    expected = {}

    def save(name, arr, version=None):
        path = os.path.join(a.out, name)
        with open(path, "wb") as f:
            npf.write_array(f, arr, version=version)
        expected[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                          "values": [v.item() for v in arr.reshape(-1)]}

    for code, shape in [("<f4", (2, 3, 4)), ("<f8", (3, 5)), ("<f2", (4, 3)), ("<i8", (2, 7)),
                        ("<i4", (3, 3)), ("|u1", (5, 6, 3)), ("|b1", (2, 9))]:
        save(f"{code[1:]}.npy", values(shape, np.dtype(code)))
    save("f4_v2.npy", values((3, 2), np.float32), version=(2, 0))
    save("f4_v3.npy", values((2, 2), np.float32), version=(3, 0))
    save("scalar.npy", values((), np.float64))
    save("vector.npy", values((5,), np.int64))
    save("empty.npy", np.zeros((0, 3), np.float32))

    def raw(name, data):
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(data)

    def encoded(arr):
        import io
        b = io.BytesIO()
        npf.write_array(b, arr)
        return b.getvalue()

    raw("bad_fortran.npy", encoded(np.asfortranarray(values((3, 4), np.float32))))
    raw("bad_bigendian.npy", encoded(values((2, 2), np.dtype(">f4"))))
    raw("bad_dtype.npy", encoded(values((2, 2), np.complex64)))
    good = encoded(values((4, 4), np.float32))
    raw("bad_truncated.npy", good[:-5])
    raw("bad_trailing.npy", good + b"\0\0\0\0")
    raw("bad_magic.npy", b"\x93NUMPZ" + good[6:])
    raw("bad_header_len.npy", good[:8] + b"\xff\xff" + good[10:])
    raw("bad_header.npy", good.replace(b"'shape': (4, 4)", b"'shape': [4, 4]"))
    b1 = bytearray(encoded(values((2, 3), np.bool_)))
    b1[-1] = 2
    raw("bad_bool.npy", bytes(b1))

    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"{a.out}: {len(expected)} valid fixtures and 9 invalid ones")


if __name__ == "__main__":
    main()
