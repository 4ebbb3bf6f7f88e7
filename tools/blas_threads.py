"""Imported before torch by the benchmark scripts: limits OpenBLAS to the
--threads the script was given.

Debian's PyTorch runs matmul and some convolutions (1x1 ones among them)
through OpenBLAS, whose pthread pool is sized when the library loads and is
not touched by torch.set_num_threads(). Without this a "--threads 1" PyTorch
run still used both cores for those ops (a 1x1 256->128 conv took 3.7 ms
instead of 8.1 ms), which made the comparison unfair to cudaseg.
"""
import os
import sys


def _threads_from_argv(argv):
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return None


_threads = _threads_from_argv(sys.argv[1:])
if _threads is not None and _threads.isdigit() and int(_threads) > 0:
    os.environ["OPENBLAS_NUM_THREADS"] = _threads
