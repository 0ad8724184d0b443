# Runs the portable tests without pytest: under the MicroPython unix port
# (tests and vectors read from disk) and on the qemu image (frozen in).
# Prints one line per failure or skip and a closing "<tier>: N passed, N failed, N skipped".
import gc
import sys

import hgtest


def _test_modules(test_dir):
    if test_dir is None:
        import _hg_testlist  # generated and frozen by tools/freeze_tests.py

        return list(_hg_testlist.MODULES)
    import os

    names = [n[:-3] for n in os.listdir(test_dir) if n.startswith("test_") and n.endswith(".py")]
    names.sort()
    return names


def run(tier, test_dir=None, lib_dir=None, vector_dir=None, only=None):
    if test_dir is not None:
        sys.path.insert(0, test_dir)
    if lib_dir is not None:
        import os

        for pkg in sorted(os.listdir(lib_dir)):
            sys.path.append(lib_dir + "/" + pkg)
    if vector_dir is not None:
        hgtest.VECTOR_DIR = vector_dir
    passed = failed = skipped = 0
    for mod_name in _test_modules(test_dir):
        if only and mod_name not in only:
            continue
        try:
            mod = __import__(mod_name)
        except hgtest.SkipTest as e:
            print("SKIP", mod_name + ":", e.args[0] if e.args else "")
            skipped += 1
            continue
        except Exception as e:
            print("FAIL", mod_name, "(import):", type(e).__name__, e)
            sys.print_exception(e)
            failed += 1
            continue
        names = [n for n in dir(mod) if n.startswith("test_")]
        names.sort()
        for name in names:
            fn = getattr(mod, name)
            if not callable(fn):
                continue
            try:
                fn()
                passed += 1
            except hgtest.SkipTest as e:
                print("SKIP", mod_name + "." + name + ":", e.args[0] if e.args else "")
                skipped += 1
            except Exception as e:
                print("FAIL", mod_name + "." + name + ":", type(e).__name__, e)
                sys.print_exception(e)
                failed += 1
            gc.collect()
        del sys.modules[mod_name]
        mod = None
        gc.collect()
    print("%s: %d passed, %d failed, %d skipped" % (tier, passed, failed, skipped))
    return failed


def main():
    # micropython mp_runner.py TIER TEST_DIR LIB_DIR VECTOR_DIR [module ...]
    args = sys.argv[1:]
    if len(args) < 4:
        print("usage: mp_runner.py TIER TEST_DIR LIB_DIR VECTOR_DIR [module ...]")
        sys.exit(2)
    failed = run(args[0], args[1], args[2], args[3], args[4:] or None)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
