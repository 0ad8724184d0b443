# CPython side of the test suite: make lib/<pkg>, the portable helpers and
# the host tools importable exactly as the device sees them.
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIB = os.path.join(_ROOT, "lib")
for _pkg in sorted(os.listdir(_LIB)):
    _p = os.path.join(_LIB, _pkg)
    if os.path.isdir(_p) and _p not in sys.path:
        sys.path.append(_p)
sys.path.insert(0, os.path.join(_ROOT, "host_tests", "portable"))
sys.path.insert(0, os.path.join(_ROOT, "tools"))
