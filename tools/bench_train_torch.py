#!/usr/bin/python3
"""Times one training step of the upstream PyTorch model: bench/bench_train.cpp's twin.

The step: the upstream train forward, cross-entropy on the main logits and on
each aux output against the labels resized nearest to its size (coefficient 1,
as cudaseg's SegLoss), backward, SGD (lr 0.01, momentum 0.9, weight decay 5e-4).
Random float32 images and labels; the median of --iters steps after --warmup.
Prints one JSON line like bench_train.

  /usr/bin/python3 tools/bench_train_torch.py --upstream /path/to/zh320 [--threads 2] [--profile 25]

--profile N: after the timed steps, one more step under torch.autograd.profiler,
and its N ops of the largest self CPU time to stderr (the op-by-op view to set
beside a perf profile of bench_train).
"""

import argparse
import json
import os
import sys
import time

import blas_threads  # noqa: F401  (before torch: OpenBLAS sizes its pool on load)
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens"))
import upstream  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="checkout of zh320/realtime-semantic-segmentation-pytorch")
    p.add_argument("--model", default='{"name": "stdc", "encoder_type": "stdc1", "num_classes": 19, "use_aux": true}')
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", default="256x512")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest ops of one more step")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    config = json.loads(a.model)
    h, w = (int(v) for v in a.size.split("x"))
    model, _ = upstream.build(a.upstream, config)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(7)
    images = torch.randn(a.batch, 3, h, w, generator=g)
    labels = torch.randint(0, config["num_classes"], (a.batch, h, w), generator=g)

    def step():
        main, extra = upstream.forward(model, config, images, True)
        loss = F.cross_entropy(main, labels, ignore_index=255)
        for aux in extra:
            small = F.interpolate(labels.float()[:, None], aux.shape[2:], mode="nearest").long()[:, 0]
            loss = loss + F.cross_entropy(aux, small, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    times, last = [], 0.0
    for _ in range(a.iters):
        t0 = time.perf_counter()
        last = step()
        times.append(time.perf_counter() - t0)
    if a.profile > 0:
        with torch.autograd.profiler.profile() as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.profile), file=sys.stderr)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({"impl": "pytorch " + torch.__version__, "model": config, "batch": a.batch, "size": [h, w],
                      "threads": a.threads, "step_s": round(median, 4), "min_step_s": round(times[0], 4),
                      "images_per_s": round(a.batch / median, 3), "loss": round(last, 4)}))


if __name__ == "__main__":
    main()
