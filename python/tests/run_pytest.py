"""CTest's python.pytest: runs this folder's pytest suite against the package
in the build tree (PYTHONPATH=BUILD/python, set by CTest), or says why it is
skipped in the line CTest's SKIP_REGULAR_EXPRESSION matches."""
import sys

try:
    import pytest
except ImportError:
    print(f"cudaseg python tests skipped: pytest is not installed for {sys.executable} (python3-pytest)")
    sys.exit(0)
try:
    import numpy  # noqa: F401
except ImportError:
    print(f"cudaseg python tests skipped: numpy is not installed for {sys.executable} (python3-numpy)")
    sys.exit(0)

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-rs", sys.argv[1]]))
