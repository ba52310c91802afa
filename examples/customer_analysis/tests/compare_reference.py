#!/usr/bin/env python3
"""Compare the C++ ``customer_analysis`` with the Python reference on generated data.

The C++ binary generates a data set, analyses it with a few ``--threads`` /
``--chunk-bytes`` settings, and the reference analyses it once; the reports
are compared field by field:

* integers and strings exactly, means and rates exactly (the same double);
* churn figures (AUC, accuracy, probabilities) within 1e-6;
* ``at_risk`` lists equal, except that entries whose probabilities differ by
  less than 1e-9 may come in either order (and so may cross the cut at 20);
* error lists: the same line numbers, and each message naming the same
  column (the wording of messages is free).

Usage::

    compare_reference.py --impl BUILD/examples/customer_analysis/customer_analysis
                         [--interactions N] [--customers M] [--seed S]
                         [--corrupt F] [--data DIR] [--keep DIR] [--time]

Exit status 0 when the reports agree, 1 on a mismatch, 2 when a program fails.
With ``--time`` both programs also analyse the same file with their default
settings, timed, and the last line printed is ``cpp_seconds python_seconds``.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(os.path.dirname(HERE), "reference.py")

CHURN_TOLERANCE = 1e-6
SWAP_TOLERANCE = 1e-9
MAX_SHOWN = 20
COLUMN_NAMES = ("interaction_id", "customer_id", "timestamp", "channel", "topic",
                "wait_seconds", "handle_seconds", "resolved", "csat", "notes",
                "tenure_months", "churned")
# C++ settings compared against the reference (and against one another).
CPP_SETTINGS = ([], ["--threads", "1", "--chunk-bytes", "4096"],
                ["--threads", "3", "--chunk-bytes", "777"])


def fail(message):
    print(f"compare_reference: {message}", file=sys.stderr)
    sys.exit(2)


def run(command, what):
    """Run a command; return its wall time.  Stops the script if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        fail(f"{what} failed with exit status {proc.returncode}\n"
             f"command: {' '.join(command)}\n{proc.stderr.decode('utf-8', 'replace')}")
    return seconds


def load(path):
    with open(path, "rb") as f:
        return json.load(f)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def named_columns(message):
    """The column names a message mentions (its wording is otherwise free)."""
    words = set(message.replace(":", " ").replace("'", " ").replace('"', " ")
                .replace(",", " ").replace("(", " ").replace(")", " ").split())
    return sorted(c for c in COLUMN_NAMES if c in words or c in message)


class Comparison:
    """Collects the differences between a C++ report and the reference report."""

    def __init__(self):
        self.diffs = []

    def diff(self, path, cpp, ref, note=""):
        self.diffs.append((path, cpp, ref, note))

    def values(self, path, cpp, ref, tolerance=None):
        """Compare two JSON values recursively."""
        if isinstance(cpp, dict) and isinstance(ref, dict):
            if list(cpp) != list(ref):
                self.diff(path, list(cpp), list(ref), "keys (or their order) differ")
            for key in ref:
                if key in cpp:
                    self.values(f"{path}.{key}", cpp[key], ref[key], tolerance)
        elif isinstance(cpp, list) and isinstance(ref, list):
            if len(cpp) != len(ref):
                self.diff(path, f"{len(cpp)} items", f"{len(ref)} items", "lengths differ")
            for i, (a, b) in enumerate(zip(cpp, ref)):
                self.values(f"{path}[{i}]", a, b, tolerance)
        elif is_number(cpp) and is_number(ref):
            if isinstance(cpp, int) and isinstance(ref, int):
                if cpp != ref:
                    self.diff(path, cpp, ref)
            elif tolerance is not None:
                if not (abs(float(cpp) - float(ref)) <= tolerance):
                    self.diff(path, cpp, ref, f"differ by more than {tolerance}")
            elif float(cpp) != float(ref):
                self.diff(path, repr(cpp), repr(ref), "not the same double")
        elif cpp != ref or type(cpp) is not type(ref):
            self.diff(path, cpp, ref)

    def errors(self, path, cpp, ref):
        """Error lists: same lines, and each message naming the same columns."""
        if cpp is None or ref is None:
            self.values(path, cpp, ref)
            return
        if len(cpp) != len(ref):
            self.diff(path, f"{len(cpp)} errors", f"{len(ref)} errors", "lengths differ")
        for i, (a, b) in enumerate(zip(cpp, ref)):
            if a.get("line") != b.get("line"):
                self.diff(f"{path}[{i}].line", a.get("line"), b.get("line"))
            elif named_columns(a.get("message", "")) != named_columns(b.get("message", "")):
                self.diff(f"{path}[{i}].message", a.get("message"), b.get("message"),
                          "the messages name different columns")

    def at_risk(self, path, cpp, ref):
        """at_risk: same customers in the same order, except near-equal probabilities."""
        if len(cpp) != len(ref):
            self.diff(path, f"{len(cpp)} entries", f"{len(ref)} entries", "lengths differ")
            return
        ref_prob = {e["customer_id"]: e["probability"] for e in ref}
        cpp_prob = {e["customer_id"]: e["probability"] for e in cpp}
        for i, (a, b) in enumerate(zip(cpp, ref)):
            where = f"{path}[{i}]"
            pa, pb = a["probability"], b["probability"]
            if not abs(pa - pb) <= CHURN_TOLERANCE:
                self.diff(f"{where}.probability", pa, pb, f"differ by more than {CHURN_TOLERANCE}")
            if a["customer_id"] == b["customer_id"]:
                continue
            # A swap is allowed only between probabilities closer than 1e-9.
            ok = abs(pa - pb) < SWAP_TOLERANCE + CHURN_TOLERANCE
            cid = a["customer_id"]
            if cid in ref_prob:
                ok = ok and abs(ref_prob[cid] - pb) < SWAP_TOLERANCE
            else:                      # crossed the cut: must tie with the last entry
                ok = ok and abs(pa - ref[-1]["probability"]) < SWAP_TOLERANCE
            cid = b["customer_id"]
            if cid in cpp_prob:
                ok = ok and abs(cpp_prob[cid] - pa) < SWAP_TOLERANCE
            else:
                ok = ok and abs(pb - cpp[-1]["probability"]) < SWAP_TOLERANCE
            if not ok:
                self.diff(f"{where}.customer_id", a["customer_id"], b["customer_id"],
                          "different customers, probabilities not within 1e-9")

    def reports(self, cpp, ref):
        keys = ["rows", "errors", "customer_rows", "customer_errors", "customers",
                "by_topic", "by_channel", "best_channel", "pain_terms", "churn"]
        if list(cpp) != keys:
            self.diff("report", list(cpp), keys, "top-level keys (or their order) differ")
        for key in keys:
            if key not in cpp or key not in ref:
                continue
            if key in ("errors", "customer_errors"):
                self.errors(key, cpp[key], ref[key])
            elif key == "churn" and cpp[key] is not None and ref[key] is not None:
                c, r = cpp[key], ref[key]
                if list(c) != list(r):
                    self.diff("churn", list(c), list(r), "keys (or their order) differ")
                for k in r:
                    if k not in c:
                        continue
                    if k == "at_risk":
                        self.at_risk("churn.at_risk", c[k], r[k])
                    else:
                        self.values(f"churn.{k}", c[k], r[k], tolerance=CHURN_TOLERANCE)
            else:
                self.values(key, cpp[key], ref[key])

    def show(self, label):
        print(f"{label}: {len(self.diffs)} difference(s); first {min(len(self.diffs), MAX_SHOWN)}:")
        for path, cpp, ref, note in self.diffs[:MAX_SHOWN]:
            suffix = f"  ({note})" if note else ""
            print(f"  {path}:{suffix}\n      C++:       {cpp!r}\n      reference: {ref!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", required=True, help="the customer_analysis binary")
    parser.add_argument("--interactions", type=int, default=20000)
    parser.add_argument("--customers", type=int, default=None,
                        help="customers to generate (default: interactions / 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--corrupt", default="0.002", help="fraction of corrupt rows")
    parser.add_argument("--data", help="analyse DIR/interactions.csv and DIR/customers.csv "
                                       "instead of generating")
    parser.add_argument("--keep", help="generate into this directory and keep it")
    parser.add_argument("--reference", default=REFERENCE, help="reference.py to compare with")
    parser.add_argument("--time", action="store_true",
                        help="also time both programs; last line: cpp_seconds python_seconds")
    args = parser.parse_args()

    impl = os.path.abspath(args.impl)
    if not os.access(impl, os.X_OK):
        fail(f"{args.impl} is not an executable")
    work = tempfile.mkdtemp(prefix="compare-reference-")
    try:
        if args.data:
            data = args.data
        else:
            data = args.keep or os.path.join(work, "data")
            os.makedirs(data, exist_ok=True)
            customers = args.customers if args.customers is not None else max(1, args.interactions // 10)
            seconds = run([impl, "generate", "--interactions", str(args.interactions),
                           "--customers", str(customers), "--seed", str(args.seed),
                           "--corrupt", args.corrupt, "--out", data], "generate")
            print(f"generated {args.interactions} interactions, {customers} customers "
                  f"in {seconds:.2f} s")
        inputs = ["--interactions", os.path.join(data, "interactions.csv")]
        if os.path.exists(os.path.join(data, "customers.csv")):
            inputs += ["--customers", os.path.join(data, "customers.csv")]

        ref_out = os.path.join(work, "reference.json")
        seconds = run([sys.executable, args.reference, "analyze"] + inputs
                      + ["--out", ref_out, "--quiet"], "reference.py analyze")
        print(f"reference.py analyze: {seconds:.2f} s")
        reference = load(ref_out)

        mismatch = False
        first_bytes = None
        for i, setting in enumerate(CPP_SETTINGS):
            out = os.path.join(work, f"cpp{i}.json")
            seconds = run([impl, "analyze"] + inputs + setting + ["--out", out, "--quiet"],
                          "C++ analyze")
            label = "C++ analyze " + (" ".join(setting) or "(default settings)")
            print(f"{label}: {seconds:.2f} s")
            with open(out, "rb") as f:
                text = f.read()
            if first_bytes is None:
                first_bytes = text
            elif text != first_bytes:
                mismatch = True
                print(f"{label}: the report is not byte-identical to the default run's")
            comparison = Comparison()
            comparison.reports(json.loads(text), reference)
            if comparison.diffs:
                mismatch = True
                comparison.show(label)

        rows = reference["rows"]
        print(f"rows: {rows['read']} read, {rows['valid']} valid, {rows['invalid']} invalid; "
              f"customer rows: {reference['customer_rows']}")
        print("MISMATCH" if mismatch else "reports agree")

        if args.time:
            out = os.path.join(work, "timed.json")
            cpp_seconds = run([impl, "analyze"] + inputs + ["--out", out, "--quiet"], "C++ analyze")
            py_seconds = run([sys.executable, args.reference, "analyze"] + inputs
                             + ["--out", out, "--quiet"], "reference.py analyze")
            ratio = py_seconds / cpp_seconds if cpp_seconds > 0 else math.inf
            print(f"time: C++ {cpp_seconds:.3f} s, Python {py_seconds:.3f} s, "
                  f"C++ is {ratio:.1f}x faster")
            print(f"{cpp_seconds:.6f} {py_seconds:.6f}")
        return 1 if mismatch else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
