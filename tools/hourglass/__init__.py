"""hourglass host tools: the `hourglass` command and helpers shared by the scripts."""
import os
import sys

__version__ = "0.1.0"

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def use_device_lib():
    """Make the device packages under lib/ importable (the host runs the same code)."""
    lib = os.path.join(ROOT, "lib")
    for pkg in sorted(os.listdir(lib)):
        path = os.path.join(lib, pkg)
        if os.path.isdir(path) and path not in sys.path:
            sys.path.append(path)
