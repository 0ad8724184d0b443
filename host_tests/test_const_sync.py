"""Private copies of other modules' constants stay equal to them.

Device modules keep the numbers they take from another module as private
consts (`_ACK = const(2)` under a comment "# coap_msg's values (private
consts take no RAM; host_tests/test_const_sync.py checks they match)"):
MicroPython folds those into the bytecode, where `from coap_msg import ACK`
would take a slot in the importing module's globals (heap on a 64 KiB
board). Under CPython const() is the identity, so each private copy is a
module global here and can be compared with the source module's value.
"""
import importlib
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
for _pkg in sorted(os.listdir(LIB)):
    if os.path.isdir(os.path.join(LIB, _pkg)) and os.path.join(LIB, _pkg) not in sys.path:
        sys.path.append(os.path.join(LIB, _pkg))

MARK = re.compile(r"^# (\w+)'s values \(private consts take no RAM; host_tests/test_const_sync\.py$")
CONST = re.compile(r"^_([A-Z][A-Z0-9_]*) = const\((-?\w+)\)")

# (module, source module, least number of copies): every block there is
EXPECTED = [
    ("coap_ep", "coap_msg", 9),
    ("coap_server", "coap_msg", 21),
    ("oscore", "coap_msg", 12),
    ("oscore_server", "coap_msg", 16),
    ("suit_processor", "suit_envelope", 13),
    ("suit_slots", "suit_envelope", 8),
    ("suit_slots", "suit_platform", 1),
    ("suit_boot", "suit_envelope", 1),
    ("suit_boot", "suit_slots", 6),
    ("suit_platform", "suit_envelope", 1),
    ("lms", "lms_py", 5),
    ("eat", "cose", 4),
]


def _blocks(mod_name):
    """{source module: [(NAME, line)]} of the marked blocks in mod_name."""
    path = importlib.import_module(mod_name).__file__
    with open(path) as f:
        lines = f.read().splitlines()
    out = {}
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        i += 1
        if not m:
            continue
        src = out.setdefault(m.group(1), [])
        while i < len(lines) and lines[i].startswith("#"):
            i += 1
        while i < len(lines):
            c = CONST.match(lines[i])
            if not c:
                break
            src.append((c.group(1), i + 1))
            i += 1
    return out


def test_every_block_is_checked():
    found = set()
    for mod_name in sorted(set(m for m, _s, _n in EXPECTED)):
        for src in _blocks(mod_name):
            found.add((mod_name, src))
    assert found == set((m, s) for m, s, _n in EXPECTED)


@pytest.mark.parametrize("mod_name,src_name,least", EXPECTED)
def test_private_copies_match(mod_name, src_name, least):
    mod = importlib.import_module(mod_name)
    src = importlib.import_module(src_name)
    names = _blocks(mod_name)[src_name]
    assert len(names) >= least, names
    for name, line in names:
        # the source keeps the name public (served by its __getattr__) or
        # private (a const of its own, e.g. suit_slots' record fields)
        want = getattr(src, name, getattr(src, "_" + name, None))
        assert want is not None, "%s:%d: %s.%s does not exist" % (mod_name, line, src_name, name)
        assert getattr(mod, "_" + name) == want, "%s:%d: _%s" % (mod_name, line, name)


def test_public_tables_match_the_private_consts():
    # the modules that serve their public constants from a _PUBLIC table
    for mod_name in ("coap_msg", "coap_ep", "coap_server", "cose", "eat", "lms_py",
                     "suit_envelope", "suit_processor", "suit_slots"):
        mod = importlib.import_module(mod_name)
        table = mod._PUBLIC
        assert len(table) == len(set(k for k, _v in table)), mod_name
        for name, value in table:
            assert name not in mod.__dict__, (mod_name, name)  # served by the table
            assert getattr(mod, name) == value == mod.__dict__["_" + name], (mod_name, name)
