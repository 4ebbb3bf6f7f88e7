"""cudaseg: real-time semantic segmentation on cudaseg's C++/CUDA runtime.

    import cudaseg
    s = cudaseg.Session("runs/stdc1/best.json")          # device="cuda", precision="fp16" on a GPU
    labels = s.predict(cudaseg.read_image("street.jpg"))   # H x W x 3 uint8 in, H x W int64 out
    cudaseg.convert("upstream.pth", "nets/stdc1.json", "stdc1.bin")
    cudaseg.train("nets/stdc1.json", {"train.iters": 500}, progress=print)

Every failure inside the library raises cudaseg.Error (a RuntimeError) with the
library's message. Long calls (loading, predict, logits, convert, train) run
without the GIL.
"""

import json as _json
import os as _os

from ._core import Error, Session, __version__, compiled_backends, convert, read_image
from . import _core

__all__ = ["Error", "Session", "convert", "train", "read_image", "compiled_backends", "__version__"]


def _override_list(overrides):
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        # JSON values, so 0.1, True, [64, 64] and "adamw" keep their types.
        return [f"{key}={_json.dumps(value)}" for key, value in overrides.items()]
    if isinstance(overrides, str):
        raise TypeError("train: overrides is a dict or a list of 'key=value' strings, not one string")
    return [str(item) for item in overrides]


def train(config, overrides=None, out=None, progress=None, resume=None, log=None):
    """Trains a net as rtseg_train does; returns a summary dict.

    config: a run config: a JSON file (nets/*.json) or a dict of the same shape.
    overrides: {"train.iters": 500, "optimizer.lr": 0.01} or ["train.iters=500", ...]
        (rtseg_train's --set: a value is JSON, else a string).
    out: the run folder (default: the folder resume names, else train.out, else
        runs/<config file's name>; a dict config needs out or train.out).
    progress: called after every step with a dict: step, iters, loss, terms
        (each loss term), lr, seconds, and miou when the step validated. An
        exception it raises (or Ctrl-C) stops the run after that step with a
        checkpoint in out/last, and is then re-raised here.
    resume: continue from a run folder or a training checkpoint.
    log: called with each progress and validation line (default: written to sys.stderr).

    The run folder receives what rtseg_train writes: config.json, last.json/.bin,
    best.json/.bin, metrics.jsonl and the plots. Returns {"step", "best_miou",
    "best_step", "last_miou", "out", "weights"}: weights is best.json, else last.json.
    """
    if isinstance(config, dict):
        path, text = None, _json.dumps(config)
    else:
        path, text = _os.fspath(config), None
    return _core._train(path, text, _override_list(overrides), out, resume, progress, log)
