"""Shared fixtures: a tiny STDC1 run trained once per session through
cudaseg.train, and the build tree's rtseg_* tools to compare against."""
import os
import pathlib

import pytest

# Imported, not skipped when missing: CTest registers this suite only where the extension is built.
import cudaseg

REPO = pathlib.Path(__file__).resolve().parents[2]

# STDC1 (size divisor 32) cut down to seconds on the CPU: tiny synthetic
# images, a few steps, one validation at the end.
TINY = {
    "data.train_size": 4,
    "data.val_size": 2,
    "data.image_size": [64, 64],
    "data.workers": 0,
    "augment.crop": [32, 32],
    "train.batch_size": 2,
    "train.iters": 3,
    "schedule.warmup_iters": 1,
    "train.log_interval": 1,
    "train.val_interval": 0,
    "train.ckpt_interval": 0,
}


def tool(name):
    """The build tree's rtseg_* program, or a skip where there is none (pip install)."""
    build = os.environ.get("CUDASEG_BUILD_DIR")
    path = pathlib.Path(build, name) if build else None
    if path is None or not path.exists():
        pytest.skip(f"{name} is not built (CUDASEG_BUILD_DIR={build})")
    return str(path)


@pytest.fixture(scope="session")
def stdc_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stdc1_run")
    result = cudaseg.train(REPO / "nets" / "stdc1.json", TINY, out=out, log=lambda line: None)
    return result


@pytest.fixture(scope="session")
def session(stdc_run):
    return cudaseg.Session(stdc_run["weights"])
