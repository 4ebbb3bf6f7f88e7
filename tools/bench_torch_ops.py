"""Times in PyTorch the calls bench_ops times in cudaseg, the same way (median
milliseconds of --iters runs after --warmup, float32), and prints the same
markdown table or JSON.

    /usr/bin/python3 tools/bench_torch_ops.py [--device cpu|cuda] [--threads 2] [--json]
"""
import argparse
import json
import time

import blas_threads  # noqa: F401  (before torch: OpenBLAS sizes its pool on load)
import torch
import torch.nn.functional as F


def median_ms(fn, iters, warmup, cuda):
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def conv_row(name, x_shape, w_shape, groups, padding, args):
    dev = args.device
    g = torch.Generator(device="cpu").manual_seed(1)
    x = torch.randn(x_shape, generator=g).to(dev).requires_grad_(True)
    w = (torch.randn(w_shape, generator=g) * 0.1).to(dev).requires_grad_(True)
    y = F.conv2d(x, w, None, 1, padding, 1, groups)
    gy = torch.randn(y.shape, generator=g).to(dev)
    cuda = dev.startswith("cuda")

    def fwd():
        with torch.no_grad():
            F.conv2d(x, w, None, 1, padding, 1, groups)

    def bwd():
        # The two backward convolutions alone, as bench_ops times them.
        torch.ops.aten.convolution_backward(gy, x, w, None, [1, 1], [padding, padding], [1, 1], False, [0, 0],
                                            groups, [True, True, False])

    return {"op": name, "forward_ms": median_ms(fwd, args.iters, args.warmup, cuda),
            "backward_ms": median_ms(bwd, args.iters, args.warmup, cuda)}


def bilinear_row(args):
    dev = args.device
    g = torch.Generator(device="cpu").manual_seed(2)
    x = torch.randn(1, 19, 128, 256, generator=g).to(dev)
    gy = torch.randn(1, 19, 512, 1024, generator=g).to(dev)
    cuda = dev.startswith("cuda")

    def fwd():
        F.interpolate(x, size=(512, 1024), mode="bilinear", align_corners=True)

    def bwd():
        torch.ops.aten.upsample_bilinear2d_backward(gy, [512, 1024], [1, 19, 128, 256], True, None, None)

    return {"op": "bilinear x4 (align_corners)", "forward_ms": median_ms(fwd, args.iters, args.warmup, cuda),
            "backward_ms": median_ms(bwd, args.iters, args.warmup, cuda)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    rows = [
        conv_row("conv2d 3x3 64->64", (1, 64, 256, 512), (64, 64, 3, 3), 1, 1, args),
        conv_row("depthwise 3x3", (1, 128, 128, 256), (128, 1, 3, 3), 128, 1, args),
        conv_row("conv2d 1x1 256->128", (1, 256, 64, 128), (128, 256, 1, 1), 1, 0, args),
        bilinear_row(args),
    ]
    if args.json:
        print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "rows": rows}))
        return
    print(f"PyTorch {torch.__version__} on {args.device} ({torch.get_num_threads()} threads), float32, "
          f"median of {args.iters}\n")
    print("| op | forward ms | backward ms |\n| --- | --- | --- |")
    for r in rows:
        print(f"| {r['op']} | {r['forward_ms']:.2f} | {r['backward_ms']:.2f} |")


if __name__ == "__main__":
    main()
