#!/usr/bin/env python3
"""End-to-end test runner: finds tests/e2e/test_*.py, runs every test_* function in them
(or only those named on the command line), each under a hard time limit.

    RTMP_SERVER=/abs/rtmp_server python3 tests/e2e/run.py [-k] [-t SECONDS] [name ...]

A name selects a test function (test_reload), a module (test_process) or module.function
(test_process.test_reload); a prefix of a function name also matches.
Prints one line per test and, last, "N passed, M failed"; exits 1 on any failure.
On failure the tail of each server's error log (and its stdout/stderr) is printed.
"""

import argparse
import glob
import importlib.util
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

DEFAULT_LIMIT = 60.0


class TestTimeout(BaseException):
    """Raised from SIGALRM; a BaseException so a test's `except Exception` cannot eat it,
    while its with/finally blocks still run and stop its servers."""


def _alarm(signum, frame):
    raise TestTimeout()


def discover():
    tests = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        modname = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            tests.append((modname, "<import>", None, traceback.format_exc()))
            continue
        names = [n for n, v in vars(mod).items() if n.startswith("test_") and callable(v)]
        # definition order, so related tests stay together
        names.sort(key=lambda n: getattr(getattr(mod, n), "__code__", None).co_firstlineno
                   if hasattr(getattr(mod, n), "__code__") else 0)
        for n in names:
            tests.append((modname, n, getattr(mod, n), None))
    return tests


def selected(modname, name, filters):
    if not filters:
        return True
    for f in filters:
        if f in (modname, name, "%s.%s" % (modname, name)) or name.startswith(f):
            return True
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="tests or modules to run (default: all)")
    ap.add_argument("-t", "--time-limit", type=float,
                    default=float(os.environ.get("E2E_TIME_LIMIT", DEFAULT_LIMIT)),
                    help="hard limit per test in seconds (default %(default)s; a test may "
                         "declare its own with a TIME_LIMIT attribute)")
    ap.add_argument("-k", "--keep", action="store_true",
                    help="keep the temp dirs of failed tests")
    args = ap.parse_args()

    if not os.access(harness.SERVER, os.X_OK):
        print("FAIL setup: RTMP_SERVER=%s is not an executable (build it with make)"
              % harness.SERVER)
        print("0 passed, 1 failed")
        return 1
    print("server: %s" % harness.SERVER, flush=True)

    signal.signal(signal.SIGALRM, _alarm)
    passed = failed = skipped = 0
    tests = discover()
    for f in args.names:
        if not any(selected(m, n, [f]) for m, n, _, _ in tests):
            failed += 1
            print("FAIL %s: no such test or module" % f, flush=True)
    for modname, name, fn, import_error in tests:
        full = "%s.%s" % (modname, name)
        if import_error is not None:
            if selected(modname, name, args.names) or not args.names:
                failed += 1
                print("FAIL %s: cannot import\n%s" % (modname, import_error.rstrip()), flush=True)
            continue
        if not selected(modname, name, args.names):
            continue
        limit = float(getattr(fn, "TIME_LIMIT", args.time_limit))
        start = time.monotonic()
        reason = None
        detail = ""
        skip_reason = None
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            try:
                fn()
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except harness.SkipTest as e:
            skip_reason = str(e)
        except TestTimeout:
            reason = "hard time limit of %gs exceeded" % limit
            detail = traceback.format_exc(limit=-4)
        except harness.TestFailure as e:
            reason = str(e)
            tb = traceback.extract_tb(e.__traceback__)
            where = [f for f in tb if os.path.basename(f.filename).startswith("test_")]
            if where:
                reason += "  [%s:%d]" % (os.path.basename(where[-1].filename), where[-1].lineno)
        except KeyboardInterrupt:
            harness.cleanup()
            raise
        except BaseException as e:  # noqa: B902 -- any error is a failure of this test
            reason = "%s: %s" % (type(e).__name__, e)
            detail = traceback.format_exc()
        finally:
            # a finally block of the test itself may have been cut short: stop by pid
            # whatever is still running
            servers = harness.servers_started()
            for s in servers:
                try:
                    s.stop()
                except Exception:
                    pass
        took = time.monotonic() - start
        if reason is None and skip_reason is None:
            # a sanitizer report from any process of any server fails the test
            for s in servers:
                report = s.sanitizer_report()
                if report:
                    reason = "sanitizer report in the server's output: %s" % report
                    break

        if skip_reason is not None:
            skipped += 1
            print("skip %s: %s  (%.1fs)" % (full, skip_reason, took), flush=True)
        elif reason is None:
            passed += 1
            print("ok   %s  (%.1fs)" % (full, took), flush=True)
        else:
            failed += 1
            print("FAIL %s: %s  (%.1fs)" % (full, reason, took), flush=True)
            if detail:
                print("  " + detail.rstrip().replace("\n", "\n  "))
            for s in servers:
                d = s.diagnostics()
                if d:
                    print(d)
            if args.keep:
                print("  (kept: %s)" % ", ".join(s.dir for s in servers))
            sys.stdout.flush()
        harness.cleanup(keep_dirs=args.keep and reason is not None)

    if skipped:
        print("%d skipped" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or (passed == 0 and skipped == 0) else 0


if __name__ == "__main__":
    sys.exit(main())
