"""A short rtseg_train run for the checks of a run folder's files: STDC1
(nets/stdc1.json, whose auxiliary heads give several loss terms) on a few
32x32 synthetic images, on the CPU."""
import os
import subprocess
import sys

SKIP = 77  # CTest's SKIP_RETURN_CODE for these checks

SETTINGS = ["train.iters=4", "train.log_interval=1", "train.val_interval=2", "train.ckpt_interval=2",
            "train.batch_size=2", "train.device=cpu", "data.train_size=8", "data.val_size=2",
            "data.image_size=[32,32]", "data.workers=0", "augment.crop=[32,32]", "schedule.warmup_iters=1"]


def train(rtseg_train, source_dir, out, *extra):
    """Runs rtseg_train into `out` with SETTINGS and then `extra` arguments; fails the check on an error."""
    args = [rtseg_train, os.path.join(source_dir, "nets", "stdc1.json"), "--out", out]
    for s in SETTINGS:
        args += ["--set", s]
    args += list(extra)
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"FAILED: {' '.join(args)} exited with {r.returncode}:\n{r.stderr[-4000:]}")
