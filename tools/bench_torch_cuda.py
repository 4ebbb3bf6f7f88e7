"""Times in PyTorch, on one CUDA device, the calls bench_cuda times in cudaseg,
the same way (CUDA events around each call, median of --iters after --warmup),
and prints the same rows as a markdown table or JSON. TF32 is off, as in
cudaseg.

    /usr/bin/python3 tools/bench_torch_cuda.py [--device cuda:0] [--iters 20] [--warmup 3] [--json]
"""
import argparse
import json

import torch
import torch.nn.functional as F


def median_ms(fn, args):
    for _ in range(args.warmup):
        fn()
    torch.cuda.synchronize(args.device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(args.iters):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def randn(shape, seed, dtype, dev, scale=1.0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    return (torch.randn(shape, generator=g) * scale).to(device=dev, dtype=dtype)


def row(op, dtype, shape, ms):
    return {"op": op, "dtype": str(dtype).replace("torch.", ""), "shape": shape, "ms": ms}


def copy_gbps(args):
    src = torch.zeros(1 << 28, device=args.device)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), args)
    return 2 * src.numel() * src.element_size() / (ms * 1e6)


@torch.no_grad()
def depthwise(dtype, args):
    x = randn((1, 128, 256, 512), 1, dtype, args.device)
    w = randn((128, 1, 3, 3), 2, dtype, args.device, 0.3)
    return row("depthwise 3x3", dtype, "[1, 128, 256, 512]",
               median_ms(lambda: F.conv2d(x, w, None, 1, 1, 1, 128), args))


@torch.no_grad()
def bilinear(args):
    x = randn((1, 19, 128, 256), 3, torch.float32, args.device)
    return row("bilinear x8", torch.float32, "[1, 19, 128, 256] -> [1024, 2048]",
               median_ms(lambda: F.interpolate(x, size=(1024, 2048), mode="bilinear", align_corners=False), args))


def cross_entropy(args):
    shape = (8, 19, 512, 1024)
    x = randn(shape, 4, torch.float32, args.device, 2.0)
    g = torch.Generator(device="cpu").manual_seed(5)
    t = torch.randint(0, 19, (8, 512, 1024), generator=g).to(args.device)

    def forward():
        with torch.no_grad():
            F.cross_entropy(x, t, ignore_index=255)

    xg = x.clone().requires_grad_(True)
    loss = F.cross_entropy(xg, t, ignore_index=255)
    s = "[8, 19, 512, 1024]"
    return [row("cross entropy forward", torch.float32, s, median_ms(forward, args)),
            row("cross entropy gradient", torch.float32, s,
                median_ms(lambda: torch.autograd.grad(loss, xg, retain_graph=True), args))]


def attention(name, q_shape, kv_shape, bias_shape, dtype, args):
    q = randn(q_shape, 6, dtype, args.device)
    k = randn(kv_shape, 7, dtype, args.device)
    v = randn(kv_shape, 8, dtype, args.device)
    bias = randn(bias_shape, 9, dtype, args.device) if bias_shape else None

    def forward():
        with torch.no_grad():
            F.scaled_dot_product_attention(q, k, v, attn_mask=bias)

    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    if bias is not None:
        leaves.append(bias.clone().requires_grad_(True))
    out = F.scaled_dot_product_attention(*leaves[:3], attn_mask=leaves[3] if bias is not None else None)
    grad = randn(tuple(out.shape), 10, dtype, args.device)
    shape = f"q {list(q_shape)}, kv {list(kv_shape)}".replace("(", "[").replace(")", "]")
    if bias is not None:
        shape += f", bias {list(bias_shape)}"
    return [row(name + " forward", dtype, shape, median_ms(forward, args)),
            row(name + " backward", dtype, shape,
                median_ms(lambda: torch.autograd.grad(out, leaves, grad, retain_graph=True), args))]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.device == "cuda":
        args.device = "cuda:0"
    torch.cuda.set_device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    gbps = copy_gbps(args)
    rows = [depthwise(torch.float32, args), depthwise(torch.float16, args), bilinear(args)]
    rows += cross_entropy(args)
    for dtype in (torch.float32, torch.float16):
        rows += attention("attention SegFormer-B0 stage 1", (1, 1, 16384, 32), (1, 1, 256, 32), None, dtype, args)
        rows += attention("attention Swin windows", (256, 3, 49, 32), (256, 3, 49, 32), (3, 49, 49), dtype, args)
    name = torch.cuda.get_device_name(args.device)
    if args.json:
        print(json.dumps({"device": args.device, "name": name, "torch": torch.__version__, "iters": args.iters,
                          "copy_gbps": gbps, "rows": rows}))
        return
    print(f"PyTorch {torch.__version__} on {args.device} ({name}), median of {args.iters} after {args.warmup} "
          f"warm-up runs\ndevice-to-device copy: {gbps:.0f} GB/s (read + write)\n")
    print("| op | dtype | shape | ms |\n| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['op']} | {r['dtype']} | {r['shape']} | {r['ms']:.3f} |")


if __name__ == "__main__":
    main()
