#!/usr/bin/env python3
"""Hand-made edge cases for ``customer_analysis analyze``, one per rule of the contract.

Every test writes a small CSV into a temporary directory, runs the
implementation under test and checks the report fields that the rule is
about.  The expected values are worked out by hand from the contract (a few,
such as the churn model's probabilities, by a short computation written out
in the test), never taken from an implementation.

Usage::

    python3 test_spec.py [--impl "COMMAND PREFIX"] [unittest options]

``--impl`` is the command that stands for ``customer_analysis``, e.g.
``--impl build/release/examples/customer_analysis/customer_analysis``; by
default the Python reference next to this directory is tested.  Each analysis
runs three times (default settings, one-byte chunks on one thread, three-byte
chunks on four threads) and the three reports must be byte-identical.
"""

import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_IMPL = [sys.executable, os.path.join(os.path.dirname(HERE), "reference.py")]
IMPL = list(DEFAULT_IMPL)

COLUMNS = ("interaction_id", "customer_id", "timestamp", "channel", "topic",
           "wait_seconds", "handle_seconds", "resolved", "csat", "notes")
HEADER = ",".join(COLUMNS)
CHANNELS = ("phone", "email", "chat", "web", "branch")
TOPICS = ("billing", "claims", "withdrawal", "annuity_rates", "policy_change",
          "beneficiary", "account_access", "tax_forms", "complaint", "other")
STAT_KEYS = ("interactions", "resolved_rate", "mean_wait_seconds", "mean_handle_seconds",
             "csat_responses", "mean_csat", "pain_rate")
VARIANTS = ([], ["--threads", "1", "--chunk-bytes", "1"], ["--threads", "4", "--chunk-bytes", "3"])
TS = "2024-01-01T00:00:00Z"


def row(columns=COLUMNS, **values):
    """One interactions.csv line (no line break); unspecified columns get valid defaults."""
    defaults = {"interaction_id": "1", "customer_id": "1", "timestamp": TS, "channel": "phone",
                "topic": "billing", "wait_seconds": "10", "handle_seconds": "100",
                "resolved": "1", "csat": "", "notes": "ok"}
    defaults.update({k: str(v) for k, v in values.items()})
    return ",".join(defaults[c] for c in columns)


def csv(*lines, header=HEADER, eol="\n"):
    """A whole file from a header and lines, each ended by ``eol``."""
    return "".join(line + eol for line in (header,) + lines).encode("utf-8")


def ratio(s, n):
    """The contract's mean or rate: double(S) / double(n), or None over zero items."""
    return float(s) / float(n) if n else None


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def expected_churn(features, churned):
    """The contract's churn model, written out from its definition.

    ``features``: customer_id -> the 7 features, worked out by hand;
    ``churned``: customer_id -> 0/1.  Returns (probabilities, auc, accuracy).
    """
    ids = sorted(features)
    train = [c for c in ids if c % 5 != 0]
    holdout = [c for c in ids if c % 5 == 0]
    z = {c: [0.0] * 7 for c in ids}
    for j in range(7):
        values = [features[c][j] for c in train]
        if not values or min(values) == max(values):
            continue
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        for c in ids:
            z[c][j] = (features[c][j] - mean) / std
    w = [0.0] * 7
    b = 0.0
    for _ in range(300 if train else 0):
        p = {c: sigmoid(b + sum(wj * xj for wj, xj in zip(w, z[c]))) for c in train}
        gw = [sum((p[c] - churned[c]) * z[c][j] for c in train) / len(train) + 1e-4 * w[j]
              for j in range(7)]
        gb = sum(p[c] - churned[c] for c in train) / len(train)
        w = [w[j] - 0.5 * gw[j] for j in range(7)]
        b -= 0.5 * gb
    prob = {c: sigmoid(b + sum(wj * xj for wj, xj in zip(w, z[c]))) for c in ids}
    accuracy = None
    if holdout:
        accuracy = sum((prob[c] >= 0.5) == (churned[c] == 1) for c in holdout) / len(holdout)
    pos = [c for c in holdout if churned[c] == 1]
    neg = [c for c in holdout if churned[c] == 0]
    auc = None
    if pos and neg:
        wins = sum(1.0 if prob[a] > prob[n] else 0.5 if prob[a] == prob[n] else 0.0
                   for a in pos for n in neg)
        auc = wins / (len(pos) * len(neg))
    return prob, auc, accuracy


class Base(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def run_impl(self, args, cwd=None):
        return subprocess.run(IMPL + args, capture_output=True, timeout=120,
                              cwd=cwd or self.dir)

    def analyze(self, interactions, customers=None, args=(), variants=True):
        """Run analyze on the given file contents; return the parsed report.

        Checks exit status 0, that the report does not depend on --threads and
        --chunk-bytes, and that the row counts add up.
        """
        ipath = self.write("interactions.csv", interactions)
        base = ["analyze", "--interactions", ipath, "--quiet"]
        if customers is not None:
            base += ["--customers", self.write("customers.csv", customers)]
        texts = []
        for i, variant in enumerate(VARIANTS if variants else VARIANTS[:1]):
            out = os.path.join(self.dir, f"report{i}.json")
            proc = self.run_impl(base + list(args) + variant + ["--out", out])
            self.assertEqual(proc.returncode, 0,
                             f"{variant}: exit {proc.returncode}, stderr: {proc.stderr!r}")
            with open(out, "rb") as f:
                texts.append(f.read())
            if i:
                self.assertEqual(texts[i], texts[0],
                                 f"report differs with {variant} from the default run")
        report = json.loads(texts[0])
        self.check_shape(report)
        return report

    def check_shape(self, report):
        rows = report["rows"]
        self.assertEqual(rows["read"], rows["valid"] + rows["invalid"])
        self.assertEqual(list(report["by_topic"]), list(TOPICS))
        self.assertEqual(list(report["best_channel"]), list(TOPICS))
        self.assertEqual(list(report["by_channel"]), list(CHANNELS))
        for entry in list(report["by_topic"].values()) + list(report["by_channel"].values()):
            self.assertEqual(sorted(entry), sorted(STAT_KEYS))
        lines = [e["line"] for e in report["errors"]]
        self.assertEqual(lines, sorted(lines))
        self.assertEqual(len(report["errors"]), min(rows["invalid"], 100))
        if report["customer_rows"] is not None:
            cr = report["customer_rows"]
            self.assertEqual(cr["read"], cr["valid"] + cr["invalid"])
            self.assertEqual(len(report["customer_errors"]), min(cr["invalid"], 100))

    def assert_rows(self, report, read, valid, invalid):
        self.assertEqual(report["rows"], {"read": read, "valid": valid, "invalid": invalid})

    def error_lines(self, report, key="errors"):
        return [e["line"] for e in report[key]]

    def assert_errors_name(self, report, expected, key="errors"):
        """``expected``: line -> column name the message must contain (or a keyword list)."""
        self.assertEqual(self.error_lines(report, key), sorted(expected))
        for e in report[key]:
            want = expected[e["line"]]
            if isinstance(want, str):
                self.assertIn(want, e["message"], f"line {e['line']}")
                for other in COLUMNS + ("tenure_months", "churned"):
                    if other != want and other not in want:
                        self.assertNotIn(other, e["message"], f"line {e['line']}")
            else:
                self.assertTrue(any(k in e["message"].lower() for k in want),
                                f"line {e['line']}: {e['message']!r} should mention one of {want}")

    def assert_file_error(self, proc, path_as_given):
        self.assertEqual(proc.returncode, 2, proc.stderr)
        err = proc.stderr.decode("utf-8", "replace")
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith(f"error: {path_as_given}: "), err)


QUOTING = ("quot",)
FIELD_COUNT = ("field",)
LENGTH = ("long", "length", "bytes", "size", "max-record")


# ---------------------------------------------------------------------------
# CSV rules
# ---------------------------------------------------------------------------

class CsvRules(Base):
    def test_minimal_valid_file(self):
        r = self.analyze(csv(row()))
        self.assert_rows(r, 1, 1, 0)
        self.assertEqual(r["errors"], [])
        self.assertEqual(r["customers"], 1)
        self.assertIsNone(r["customer_rows"])
        self.assertIsNone(r["customer_errors"])
        self.assertIsNone(r["churn"])

    def test_header_only(self):
        r = self.analyze(csv())
        self.assert_rows(r, 0, 0, 0)
        self.assertEqual(r["customers"], 0)
        self.assertEqual(r["pain_terms"], [])
        for t in TOPICS:
            self.assertEqual(r["by_topic"][t], {"interactions": 0, "resolved_rate": None,
                                                "mean_wait_seconds": None, "mean_handle_seconds": None,
                                                "csat_responses": 0, "mean_csat": None, "pain_rate": None})
            self.assertIsNone(r["best_channel"][t])

    def test_bom_is_skipped_at_start_only(self):
        r = self.analyze(b"\xef\xbb\xbf" + csv(row(), row()))
        self.assert_rows(r, 2, 2, 0)
        # A BOM anywhere else is ordinary bytes: here it starts interaction_id.
        data = csv(row()) + b"\xef\xbb\xbf" + row().encode() + b"\n"
        r = self.analyze(data)
        self.assert_rows(r, 2, 1, 1)
        self.assert_errors_name(r, {3: "interaction_id"})

    def test_crlf_line_breaks(self):
        cols = COLUMNS[:7] + ("notes", "csat", "resolved")      # a strict column last
        data = csv(row(cols), row(cols, resolved=0), header=",".join(cols), eol="\r\n")
        r = self.analyze(data)
        self.assert_rows(r, 2, 2, 0)
        self.assertEqual(r["by_topic"]["billing"]["resolved_rate"], 0.5)

    def test_bare_cr_is_an_ordinary_byte(self):
        cols = COLUMNS[:7] + ("notes", "csat", "resolved")
        data = (",".join(cols).encode() + b"\r\n"
                + row(cols).encode() + b"\r\r\n"              # resolved is "1\r"
                + row(cols, channel="phone\rphone").encode() + b"\n"
                + row(cols).encode() + b"\r\n")
        r = self.analyze(data)
        self.assert_rows(r, 3, 1, 2)
        self.assert_errors_name(r, {2: "resolved", 3: "channel"})

    def test_bare_cr_record_is_a_one_field_record(self):
        data = csv(row()) + b"\r\r\n" + (row() + "\n" + row() + "\n").encode() + b"\r"
        # line 1 header, 2 valid, 3 a record holding a bare CR, 4 and 5 valid,
        # and at the very end a bare CR without a line break: one more record.
        r = self.analyze(data)
        self.assert_rows(r, 5, 3, 2)
        self.assert_errors_name(r, {3: FIELD_COUNT, 6: FIELD_COUNT})

    def test_blank_lines_are_skipped_anywhere(self):
        data = (b"\n\r\n" + HEADER.encode() + b"\n\n" + row().encode() + b"\r\n\r\n\n"
                + row(channel="fax").encode() + b"\n\n\r\n")
        # lines: 1 blank, 2 blank (CRLF), 3 header, 4 blank, 5 row, 6-7 blank, 8 bad row
        r = self.analyze(data)
        self.assert_rows(r, 2, 1, 1)
        self.assert_errors_name(r, {8: "channel"})

    def test_line_numbers_count_line_feeds(self):
        data = csv(row(notes='"first\nsecond\r\nthird"'),      # lines 2-4
                   row(topic="nope"),                          # line 5
                   row(topic="nope", notes='"a\n\nb"'),       # lines 6-8, starts on 6
                   row(channel="x"))                           # line 9
        r = self.analyze(data)
        self.assert_rows(r, 4, 1, 3)
        self.assert_errors_name(r, {5: "topic", 6: "topic", 9: "channel"})

    def test_quoted_fields(self):
        data = csv(row(interaction_id='"7"', customer_id='"42"', timestamp=f'"{TS}"',
                       channel='"chat"', topic='"claims"', wait_seconds='"5"',
                       handle_seconds='"6"', resolved='"0"', csat='"3"',
                       notes='"He said ""refund, now"", twice"'),
                   row(notes='""'),                       # an empty quoted field
                   row(csat='""'))                        # a quoted empty csat: no rating
        r = self.analyze(data)
        self.assert_rows(r, 3, 3, 0)
        claims = r["by_topic"]["claims"]
        self.assertEqual((claims["interactions"], claims["mean_wait_seconds"],
                          claims["mean_handle_seconds"], claims["mean_csat"], claims["pain_rate"]),
                         (1, 5.0, 6.0, 3.0, 1.0))
        self.assertEqual(r["by_topic"]["billing"]["csat_responses"], 0)
        self.assertEqual(r["customers"], 2)
        self.assertEqual(r["pain_terms"], [{"term": "now", "count": 1},
                                           {"term": "refund", "count": 1},
                                           {"term": "said", "count": 1},
                                           {"term": "twice", "count": 1}])

    def test_no_trimming_of_spaces(self):
        data = csv(row(channel=" phone"), row(topic="billing "), row(customer_id=" 1"),
                   row(notes=' "x"'))                      # not quoted: first byte is a space
        r = self.analyze(data)
        self.assert_rows(r, 4, 0, 4)
        self.assert_errors_name(r, {2: "channel", 3: "topic", 4: "customer_id", 5: QUOTING})

    def test_quote_inside_unquoted_field_is_malformed(self):
        data = csv(row(notes='ab"c"d'), row(channel='ph"o"ne'), row())
        r = self.analyze(data)
        self.assert_rows(r, 3, 1, 2)
        self.assert_errors_name(r, {2: QUOTING, 3: QUOTING})

    def test_bytes_after_closing_quote_are_malformed(self):
        data = csv(row(notes='"abc"x'), row(notes='"abc" '), row(channel='"phone"x'),
                   row(notes='"abc"'))
        r = self.analyze(data)
        self.assert_rows(r, 4, 1, 3)
        self.assert_errors_name(r, {2: QUOTING, 3: QUOTING, 4: QUOTING})

    def test_every_quote_counts_for_record_boundaries(self):
        # The lone quote on line 2 makes the quote count odd, so the LF ending
        # line 2 does not end the record; the quote on line 3 evens it out.
        data = csv(row(notes='a"b'), row(notes='c"d'), row())
        r = self.analyze(data)
        self.assert_rows(r, 2, 1, 1)
        self.assert_errors_name(r, {2: QUOTING})

    def test_unterminated_quote_at_end_of_file(self):
        data = csv(row(), row(channel="bad")) + row(notes='"never closed\nstill open').encode() + b"\n\n"
        r = self.analyze(data)
        self.assert_rows(r, 3, 1, 2)
        self.assert_errors_name(r, {3: "channel", 4: QUOTING})

    def test_unterminated_quote_without_final_line_break(self):
        data = csv(row()) + row(notes='"open').encode()
        r = self.analyze(data)
        self.assert_rows(r, 2, 1, 1)
        self.assert_errors_name(r, {3: QUOTING})

    def test_last_record_without_line_break(self):
        cols = COLUMNS[:7] + ("notes", "csat", "resolved")
        data = csv(row(cols), header=",".join(cols)) + row(cols).encode()
        r = self.analyze(data)
        self.assert_rows(r, 2, 2, 0)
        # A final CR without a LF is part of the last field.
        r = self.analyze(data + b"\n" + row(cols).encode() + b"\r")
        self.assert_rows(r, 3, 2, 1)
        self.assert_errors_name(r, {4: "resolved"})

    def test_field_count_must_match_header(self):
        full = row()
        data = csv(full + ",extra", full.rsplit(",", 1)[0], full + ",", full)
        r = self.analyze(data)
        self.assert_rows(r, 4, 1, 3)
        self.assert_errors_name(r, {2: FIELD_COUNT, 3: FIELD_COUNT, 4: FIELD_COUNT})

    def test_commas_inside_quotes_do_not_split(self):
        r = self.analyze(csv(row(notes='"a,b,c,d"'), row(notes='",,,"')))
        self.assert_rows(r, 2, 2, 0)

    def test_max_record_bytes(self):
        line = row(notes="x" * 80)
        n = len(line)
        data = csv(row(), line, row(), eol="\r\n")              # CRLF is not counted
        r = self.analyze(data, args=["--max-record-bytes", str(n)])
        self.assert_rows(r, 3, 3, 0)
        r = self.analyze(data, args=["--max-record-bytes", str(n - 1)])
        self.assert_rows(r, 3, 2, 1)
        self.assert_errors_name(r, {3: LENGTH})

    def test_max_record_bytes_counts_whole_multiline_record(self):
        notes = '"' + "y" * 30 + "\n" + "z" * 30 + '"'
        line = row(notes=notes)
        n = len(line)                                           # includes the inner LF
        data = csv(line, row(channel="fax"), row())
        r = self.analyze(data, args=["--max-record-bytes", str(n)])
        self.assert_rows(r, 3, 2, 1)
        self.assert_errors_name(r, {4: "channel"})
        r = self.analyze(data, args=["--max-record-bytes", str(n - 1)])
        self.assert_rows(r, 3, 1, 2)
        self.assert_errors_name(r, {2: LENGTH, 4: "channel"})

    def test_over_long_unterminated_record_swallows_the_rest(self):
        data = csv(row(), row(notes='"' + "w" * 200)) + b"\n".join([row().encode()] * 5) + b"\n"
        r = self.analyze(data, args=["--max-record-bytes", "100"])
        self.assert_rows(r, 2, 1, 1)
        self.assert_errors_name(r, {3: LENGTH})

    def test_many_long_records_then_valid_ones(self):
        data = csv(*([row(notes="q" * 300)] * 5 + [row(channel="x")] + [row()] * 3))
        r = self.analyze(data, args=["--max-record-bytes", "120"])
        self.assert_rows(r, 9, 3, 6)
        self.assert_errors_name(r, {2: LENGTH, 3: LENGTH, 4: LENGTH, 5: LENGTH, 6: LENGTH,
                                    7: "channel"})

    def test_first_100_errors_by_line(self):
        rows = []
        for i in range(150):
            rows.append(row(channel="fax") if i % 2 else row(topic="nope"))
            rows.append(row())
        r = self.analyze(csv(*rows))
        self.assert_rows(r, 300, 150, 150)
        self.assertEqual(self.error_lines(r), list(range(2, 2 + 200, 2)))
        self.assertIn("topic", r["errors"][0]["message"])
        self.assertIn("channel", r["errors"][1]["message"])


# ---------------------------------------------------------------------------
# Header
# ---------------------------------------------------------------------------

class Header(Base):
    def test_columns_in_any_order_with_extra_and_repeated_columns(self):
        cols = ("x", "notes", "csat", "x", "resolved", "Channel", "handle_seconds", "topic",
                "wait_seconds", "channel", "timestamp", "customer_id", "y", "interaction_id")
        values = {"x": "extra", "Channel": "not-a-channel", "y": ""}
        header = ",".join(f'"{c}"' if c in ("topic", "notes") else c for c in cols)
        line = ",".join(values[c] if c in values else {"notes": "ok", "csat": "4", "resolved": "1",
                                           "handle_seconds": "7", "topic": "claims",
                                           "wait_seconds": "3", "channel": "web",
                                           "timestamp": TS, "customer_id": "9",
                                           "interaction_id": "1"}[c] for c in cols)
        r = self.analyze(csv(line, line, header=header))
        self.assert_rows(r, 2, 2, 0)
        self.assertEqual(r["by_topic"]["claims"]["interactions"], 2)
        self.assertEqual(r["by_channel"]["web"]["mean_handle_seconds"], 7.0)
        self.assertEqual(r["by_channel"]["web"]["mean_csat"], 4.0)

    def test_header_after_blank_lines(self):
        r = self.analyze(b"\n\r\n\n" + csv(row(), row(channel="no")))
        self.assert_rows(r, 2, 1, 1)
        self.assert_errors_name(r, {6: "channel"})

    def file_error_case(self, data, name="interactions.csv"):
        path = self.write(name, data)
        out = os.path.join(self.dir, "report.json")
        proc = self.run_impl(["analyze", "--interactions", path, "--out", out, "--quiet"])
        self.assert_file_error(proc, path)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(sorted(os.listdir(self.dir)), [name])

    def test_missing_required_column(self):
        for missing in COLUMNS:
            with self.subTest(missing=missing):
                cols = [c for c in COLUMNS if c != missing]
                self.file_error_case(csv(",".join(cols), header=",".join(cols)))

    def test_column_names_are_case_sensitive(self):
        header = HEADER.replace("channel", "Channel")
        self.file_error_case(csv(row(), header=header))

    def test_column_names_are_not_trimmed(self):
        header = HEADER.replace("channel", " channel")
        self.file_error_case(csv(row(), header=header))

    def test_required_column_named_twice(self):
        self.file_error_case(csv(row() + ",phone", header=HEADER + ",channel"))

    def test_header_with_malformed_quoting(self):
        self.file_error_case(csv(row() + ",x", header=HEADER + ',"ex"tra'))
        self.file_error_case(csv(row() + ",x", header=HEADER + ',ex"tr"a'))

    def test_header_with_unterminated_quote(self):
        self.file_error_case(csv(header=HEADER + ',"extra'))

    def test_header_longer_than_max_record_bytes(self):
        path = self.write("interactions.csv", csv(row()))
        proc = self.run_impl(["analyze", "--interactions", path, "--quiet",
                              "--max-record-bytes", str(len(HEADER) - 1)])
        self.assert_file_error(proc, path)
        proc = self.run_impl(["analyze", "--interactions", path, "--quiet",
                              "--max-record-bytes", str(len(HEADER))])
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_empty_file(self):
        self.file_error_case(b"")

    def test_file_with_only_a_bom(self):
        self.file_error_case(b"\xef\xbb\xbf")


# ---------------------------------------------------------------------------
# Field rules
# ---------------------------------------------------------------------------

class FieldRules(Base):
    def check_column(self, column, valid, invalid):
        """One row per value: the valid ones must pass, the others name ``column``."""
        lines = [row(**{column: v}) for v in valid] + [row(**{column: v}) for v in invalid]
        r = self.analyze(csv(*lines), variants=False)
        self.assert_rows(r, len(lines), len(valid), len(invalid))
        first_bad = 2 + len(valid)
        self.assert_errors_name(r, {first_bad + i: column for i in range(len(invalid))})
        return r

    BAD_INTEGERS = ["", "-1", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "1_000", "１",
                    "\u0663", "١٢", "1,0".replace(",", ";")]

    def test_u64_columns(self):
        for column in ("interaction_id", "customer_id"):
            with self.subTest(column=column):
                self.check_column(column,
                                  ["0", "007", "18446744073709551615",
                                   "0" * 40 + "18446744073709551615"],
                                  ["18446744073709551616", "99999999999999999999",
                                   "184467440737095516150"] + self.BAD_INTEGERS)

    def test_customer_ids_up_to_2_64_minus_1_are_distinct(self):
        r = self.analyze(csv(row(customer_id="18446744073709551615"),
                             row(customer_id="018446744073709551615"),
                             row(customer_id="18446744073709551614"),
                             row(customer_id="0"), row(customer_id="000")))
        self.assertEqual(r["customers"], 3)

    def test_duplicate_interaction_ids_each_count(self):
        r = self.analyze(csv(row(interaction_id=5), row(interaction_id=5), row(interaction_id=5)))
        self.assert_rows(r, 3, 3, 0)
        self.assertEqual(r["by_topic"]["billing"]["interactions"], 3)

    def test_u32_columns(self):
        for column in ("wait_seconds", "handle_seconds"):
            with self.subTest(column=column):
                self.check_column(column, ["0", "4294967295", "0004294967295"],
                                  ["4294967296", "18446744073709551615"] + self.BAD_INTEGERS)

    def test_timestamp(self):
        self.check_column(
            "timestamp",
            ["2024-02-29T12:00:00Z", "2000-02-29T00:00:00Z", "0001-01-01T00:00:00Z",
             "9999-12-31T23:59:59Z", "2023-04-30T23:59:59Z", "1970-01-01T00:00:00Z",
             '"2024-01-31T01:02:03Z"'],
            ["2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
             "0000-01-01T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z",
             "2024-01-00T00:00:00Z", "2024-04-31T00:00:00Z", "2024-01-32T00:00:00Z",
             "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-01-01T23:59:60Z",
             "2024-01-01t00:00:00Z", "2024-01-01T00:00:00z", "2024-01-01T00:00:00",
             "2024-01-01 00:00:00Z", "2024-01-01T00:00:00+00:00", "2024-1-01T00:00:00Z",
             "12024-01-01T00:00:00Z", " 2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z ",
             "2024-01-01T00:00:00.000Z", "", "2024/01/01T00:00:00Z", "+024-01-01T00:00:00Z",
             "2024-01-01T0:00:00Z", "2024-01-01T00:00:0aZ", "2024-01-01"])

    def test_channel(self):
        self.check_column("channel", list(CHANNELS),
                          ["Phone", "PHONE", "phone ", "", "fax", "e-mail", "phon", "phonee"])

    def test_topic(self):
        self.check_column("topic", list(TOPICS),
                          ["Billing", "annuity-rates", "annuity rates", "", "others", "tax_form"])

    def test_resolved(self):
        self.check_column("resolved", ["0", "1", '"1"'], ["", "2", "01", "00", "true", " 1", "-0"])

    def test_csat(self):
        r = self.check_column("csat", ["", "1", "2", "3", "4", "5", '""'],
                              ["0", "6", "10", "3.0", " 3", "-1", "+3", "x"])
        billing = r["by_topic"]["billing"]
        self.assertEqual(billing["csat_responses"], 5)
        self.assertEqual(billing["mean_csat"], 3.0)

    def test_csat_leading_zeros_are_allowed(self):
        # "An integer is one or more ASCII digits (leading zeros allowed)".
        r = self.analyze(csv(row(csat="05"), row(csat="0001"), row(csat="00")))
        self.assert_rows(r, 3, 2, 1)
        self.assert_errors_name(r, {4: "csat"})
        self.assertEqual(r["by_topic"]["billing"]["mean_csat"], 3.0)

    def test_notes_take_any_bytes(self):
        r = self.analyze(csv(row(notes="\xe9t\xe9 \u2603"), row(notes='"\x01\x7f,\n"'),
                             row(notes="")) + b"1,1," + TS.encode() + b",phone,billing,1,1,1,,\xff\xfe\n")
        self.assert_rows(r, 4, 4, 0)

    def test_first_offending_column_in_field_order(self):
        cols = ("interaction_id", "customer_id", "csat", "timestamp", "channel", "topic",
                "wait_seconds", "handle_seconds", "resolved", "notes")
        header = ",".join(cols)
        data = csv(row(cols, csat="9", channel="fax"),
                   row(cols, resolved="x", timestamp="bad"),
                   row(cols, handle_seconds="-", wait_seconds="-", topic="-"),
                   row(cols, interaction_id="x", customer_id="x", csat="x"),
                   row(cols, resolved="2", handle_seconds="x"),
                   header=header)
        r = self.analyze(data)
        self.assert_rows(r, 5, 0, 5)
        self.assert_errors_name(r, {2: "csat", 3: "timestamp", 4: "topic",
                                    5: "interaction_id", 6: "handle_seconds"})

    def test_structural_problems_come_before_column_rules(self):
        data = csv(row(channel="fax") + ",extra", row(channel="fax", notes='"a"b'))
        r = self.analyze(data)
        self.assert_rows(r, 2, 0, 2)
        self.assert_errors_name(r, {2: FIELD_COUNT, 3: QUOTING})

    def test_invalid_rows_do_not_count_anywhere(self):
        data = csv(row(customer_id=1, resolved=0, notes="refund"),
                   row(customer_id=2, resolved=0, notes="refund", channel="fax"),
                   row(customer_id=3, resolved=0, notes="refund", csat="7"))
        r = self.analyze(data)
        self.assert_rows(r, 3, 1, 2)
        self.assertEqual(r["customers"], 1)
        self.assertEqual(r["by_channel"]["phone"]["interactions"], 1)
        self.assertEqual(r["pain_terms"], [{"term": "refund", "count": 1}])


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------

class Statistics(Base):
    def test_means_and_rates(self):
        data = csv(
            row(channel="phone", topic="billing", wait_seconds=4294967295, handle_seconds=1,
                resolved=1, csat=5),
            row(channel="phone", topic="billing", wait_seconds=4294967295, handle_seconds=2,
                resolved=0, csat=""),
            row(channel="phone", topic="billing", wait_seconds=1, handle_seconds=4,
                resolved=1, csat=2),
            row(channel="email", topic="claims", wait_seconds=0, handle_seconds=3,
                resolved=1, csat=3),
            row(channel="email", topic="billing", wait_seconds=7, handle_seconds=0,
                resolved=1, csat=""),
        )
        r = self.analyze(data)
        self.assert_rows(r, 5, 5, 0)
        billing = r["by_topic"]["billing"]
        self.assertEqual(billing, {
            "interactions": 4,
            "resolved_rate": ratio(3, 4),
            "mean_wait_seconds": ratio(4294967295 * 2 + 1 + 7, 4),
            "mean_handle_seconds": ratio(7, 4),
            "csat_responses": 2,
            "mean_csat": ratio(7, 2),
            "pain_rate": ratio(2, 4),          # the unresolved one and the csat 2 one
        })
        phone = r["by_channel"]["phone"]
        self.assertEqual(phone, {
            "interactions": 3,
            "resolved_rate": ratio(2, 3),
            "mean_wait_seconds": ratio(8589934591, 3),
            "mean_handle_seconds": ratio(7, 3),
            "csat_responses": 2,
            "mean_csat": ratio(7, 2),
            "pain_rate": ratio(2, 3),
        })
        self.assertEqual(r["by_channel"]["email"]["mean_wait_seconds"], 3.5)
        self.assertEqual(r["by_topic"]["claims"]["mean_csat"], 3.0)
        self.assertEqual(r["by_topic"]["claims"]["pain_rate"], 0.0)
        self.assertIsNone(r["by_channel"]["chat"]["mean_wait_seconds"])
        self.assertIsNone(r["by_topic"]["other"]["resolved_rate"])
        self.assertEqual(r["by_topic"]["other"]["interactions"], 0)

    def test_pain_definition(self):
        data = csv(row(resolved=0, csat=""), row(resolved=0, csat=5), row(resolved=1, csat=1),
                   row(resolved=1, csat=2), row(resolved=1, csat=3), row(resolved=1, csat=""),
                   row(resolved=1, csat=5))
        r = self.analyze(data)
        self.assertEqual(r["by_topic"]["billing"]["pain_rate"], ratio(4, 7))
        self.assertEqual(r["by_topic"]["billing"]["resolved_rate"], ratio(5, 7))
        self.assertEqual(r["by_topic"]["billing"]["mean_csat"], ratio(16, 5))

    def test_customers_counts_distinct_ids_of_valid_rows(self):
        data = csv(row(customer_id=3), row(customer_id=3), row(customer_id=4),
                   row(customer_id=5, channel="bad"), row(customer_id="004"))
        self.assertEqual(self.analyze(data)["customers"], 2)

    def test_pain_terms(self):
        data = csv(
            row(resolved=0, notes='"Refund DELAYED, refund delayed again!!"'),
            row(resolved=0, notes='"the portal, 404 error; portal_error"'),
            row(resolved=0, notes="caf\u00e9 r\u00e9sum\u00e9"),
            row(resolved=0, notes="ab cd ef xyz"),
            row(resolved=1, csat="", notes="refund refund refund"),       # not pain
            row(resolved=1, csat=2, notes="Escalated"),                    # pain by csat
            row(resolved=1, csat=3, notes="escalated"),                    # not pain
            row(resolved=0, channel="fax", notes="refund"),                # invalid
            row(resolved=0, notes='"said ""Refund""\nnow"'),
            row(resolved=0, notes="Customer AGENT call was very rude"),
        )
        r = self.analyze(data)
        self.assertEqual(r["pain_terms"], [
            {"term": "refund", "count": 3},
            {"term": "delayed", "count": 2},
            {"term": "error", "count": 2},
            {"term": "portal", "count": 2},
            {"term": "404", "count": 1},
            {"term": "caf", "count": 1},
            {"term": "escalated", "count": 1},
            {"term": "now", "count": 1},
            {"term": "rude", "count": 1},
            {"term": "said", "count": 1},
            {"term": "sum", "count": 1},
            {"term": "xyz", "count": 1},
        ])

    def test_pain_terms_stop_list(self):
        stop = ("the and for with that this was were are has have had not but from you your "
                "they them their our she her his him its all any can did does into out about "
                "after again been being than then there these those very will would could "
                "should just also what when which who why how customer agent call")
        r = self.analyze(csv(row(resolved=0, notes=stop + " " + stop.upper() + " kept")))
        self.assertEqual(r["pain_terms"], [{"term": "kept", "count": 1}])

    def test_pain_terms_top_20(self):
        notes = " ".join(["mmm"] * 3 + ["zzz"] * 2 + [f"a{i:02d}" for i in range(24, -1, -1)])
        r = self.analyze(csv(row(resolved=0, notes=notes)))
        expected = ([{"term": "mmm", "count": 3}, {"term": "zzz", "count": 2}]
                    + [{"term": f"a{i:02d}", "count": 1} for i in range(18)])
        self.assertEqual(r["pain_terms"], expected)

    def test_best_channel(self):
        lines = []

        def add(topic, channel, n, pain):
            for i in range(n):
                lines.append(row(topic=topic, channel=channel, resolved=0 if i < pain else 1))

        add("billing", "phone", 30, 3)        # 0.1, qualifies
        add("billing", "email", 29, 0)        # 0.0 but only 29: does not qualify
        add("billing", "chat", 40, 4)         # 0.1: ties phone, phone comes first
        add("billing", "branch", 31, 10)
        add("claims", "web", 30, 15)
        add("claims", "branch", 30, 6)        # 0.2 < 0.5
        add("withdrawal", "web", 50, 10)      # 0.2
        add("withdrawal", "email", 30, 6)     # 0.2: ties web, email comes first
        add("annuity_rates", "phone", 29, 0)  # nobody qualifies
        add("policy_change", "chat", 30, 30)  # the only candidate, though all pain
        r = self.analyze(csv(*lines), variants=False)
        expected = {t: None for t in TOPICS}
        expected.update({"billing": "phone", "claims": "branch", "withdrawal": "email",
                         "policy_change": "chat"})
        self.assertEqual(r["best_channel"], expected)
        self.assertEqual(r["by_channel"]["phone"]["interactions"], 59)
        self.assertEqual(r["by_channel"]["phone"]["pain_rate"], ratio(3, 59))
        self.assertEqual(r["by_topic"]["billing"]["pain_rate"], ratio(17, 130))


# ---------------------------------------------------------------------------
# customers.csv and the churn model
# ---------------------------------------------------------------------------

CUSTOMER_HEADER = "customer_id,tenure_months,churned"


class Customers(Base):
    def test_customer_rows(self):
        customers = csv("1,12,0",             # 2 valid
                        "2,5,1",              # 3 valid
                        "1,99,1",             # 4 duplicate of a valid row
                        "3,abc,0",            # 5 bad tenure
                        "3,7,0",              # 6 valid: the earlier 3 was invalid
                        "4,7,2",              # 7 bad churned
                        "4,4294967295,1",     # 8 valid
                        "5,4294967296,0",     # 9 bad tenure
                        "6,1",                # 10 field count
                        "",                   # 11 blank
                        '"7","0","1"',        # 12 valid
                        "x,1,1",              # 13 bad id
                        "0007,1,1",           # 14 duplicate of 7
                        header=CUSTOMER_HEADER)
        interactions = csv(row(customer_id=1), row(customer_id=8), row(customer_id=8))
        r = self.analyze(interactions, customers)
        self.assertEqual(r["customer_rows"], {"read": 12, "valid": 5, "invalid": 7})
        self.assert_errors_name(r, {4: "customer_id", 5: "tenure_months", 7: "churned",
                                    9: "tenure_months", 10: FIELD_COUNT, 13: "customer_id",
                                    14: "customer_id"}, key="customer_errors")
        self.assert_rows(r, 3, 3, 0)
        self.assertEqual(r["errors"], [])
        self.assertEqual(r["customers"], 2)
        churn = r["churn"]
        self.assertEqual((churn["train_customers"], churn["holdout_customers"],
                          churn["unlabelled_customers"]), (5, 0, 1))
        self.assertIsNone(churn["holdout_auc"])
        self.assertIsNone(churn["holdout_accuracy"])
        self.assertEqual(sorted(e["customer_id"] for e in churn["at_risk"]), [1, 3])

    def test_duplicate_id_is_the_first_offence_when_it_comes_first(self):
        # A duplicate customer_id is an offence of the customer_id column, so it is named before
        # a later broken column; a row that is invalid for any reason never becomes the valid
        # row that makes later ones duplicates.
        customers = csv("1,5,0",              # 2 valid
                        "1,x,0",              # 3 duplicate of 2 (customer_id comes before tenure)
                        "2,x,0",              # 4 bad tenure: no earlier valid 2
                        "2,3,7",              # 5 bad churned: line 4 was invalid
                        "2,3,1",              # 6 valid
                        "2,3,7",              # 7 duplicate of 6 (before churned)
                        header=CUSTOMER_HEADER)
        r = self.analyze(csv(row(customer_id=1)), customers)
        self.assertEqual(r["customer_rows"], {"read": 6, "valid": 2, "invalid": 4})
        self.assert_errors_name(r, {3: "customer_id", 4: "tenure_months", 5: "churned",
                                    7: "customer_id"}, key="customer_errors")
        # Field order decides: with tenure_months first, its error comes before the duplicate.
        customers = csv("5,1,0",              # 2 valid
                        "x,1,0",              # 3 bad tenure (before customer_id)
                        "5,1,2",              # 4 duplicate of 2 (before churned)
                        header="tenure_months,customer_id,churned")
        r = self.analyze(csv(row(customer_id=1)), customers)
        self.assertEqual(r["customer_rows"], {"read": 3, "valid": 1, "invalid": 2})
        self.assert_errors_name(r, {3: "tenure_months", 4: "customer_id"},
                                key="customer_errors")

    def test_customers_columns_in_any_order(self):
        customers = csv("x,0,10,5", "y,1,11,6", header="note,churned,customer_id,tenure_months")
        r = self.analyze(csv(row(customer_id=10)), customers)
        self.assertEqual(r["customer_rows"], {"read": 2, "valid": 2, "invalid": 0})
        self.assertEqual(r["churn"]["holdout_customers"], 1)
        self.assertEqual(r["churn"]["train_customers"], 1)
        self.assertEqual(r["churn"]["unlabelled_customers"], 0)

    def test_customer_errors_keep_first_100(self):
        lines = [f"{i},x,0" for i in range(130)]
        r = self.analyze(csv(row()), csv(*lines, header=CUSTOMER_HEADER))
        self.assertEqual(r["customer_rows"], {"read": 130, "valid": 0, "invalid": 130})
        self.assertEqual(self.error_lines(r, "customer_errors"), list(range(2, 102)))

    def test_empty_train_set(self):
        # Everyone is in the holdout: the model stays at w = 0, b = 0, p = 0.5,
        # which predicts churn (p >= 0.5); ties in at_risk by id ascending.
        customers = csv("15,1,0", "5,2,1", "10,3,0", "0,4,0", header=CUSTOMER_HEADER)
        r = self.analyze(csv(row(customer_id=5)), customers)
        churn = r["churn"]
        self.assertEqual((churn["train_customers"], churn["holdout_customers"],
                          churn["unlabelled_customers"]), (0, 4, 0))
        self.assertEqual(churn["holdout_accuracy"], 0.25)
        self.assertEqual(churn["holdout_auc"], 0.5)
        self.assertEqual(churn["at_risk"], [{"customer_id": 0, "probability": 0.5},
                                            {"customer_id": 10, "probability": 0.5},
                                            {"customer_id": 15, "probability": 0.5}])

    def test_constant_features_become_zero(self):
        # The train customers 1 and 2 have equal features: every standardised
        # feature is 0, even holdout customer 5's different tenure; the labels
        # are balanced, so b stays 0 and p = 0.5 for everyone.
        customers = csv("1,10,1", "2,10,0", "5,99,0", header=CUSTOMER_HEADER)
        r = self.analyze(csv(row(customer_id=77)), customers)
        churn = r["churn"]
        self.assertEqual((churn["train_customers"], churn["holdout_customers"],
                          churn["unlabelled_customers"]), (2, 1, 1))
        self.assertIsNone(churn["holdout_auc"])          # the holdout has one class
        self.assertEqual(churn["holdout_accuracy"], 0.0)
        self.assertEqual(churn["at_risk"], [{"customer_id": 2, "probability": 0.5},
                                            {"customer_id": 5, "probability": 0.5}])

    def test_churn_model(self):
        def i(cid, ts, resolved, csat, wait):
            return row(customer_id=cid, timestamp=ts, resolved=resolved, csat=csat,
                       wait_seconds=wait)
        interactions = csv(
            i(1, "2024-02-29T00:00:00Z", 0, 2, 30),
            i(1, "2024-02-20T00:00:00Z", 1, 4, 10),
            i(2, "2024-03-01T00:00:00Z", 1, "", 5),
            i(3, "2024-01-01T12:00:00Z", 0, 1, 100),
            i(3, "2024-01-02T00:00:00Z", 0, "", 200),
            i(3, "2024-01-03T06:00:00Z", 1, 4, 0),
            i(6, "2024-02-15T00:00:00Z", 1, 3, 50),
            i(5, "2024-02-25T00:00:00Z", 0, 1, 300),
            i(15, "2024-03-01T00:00:00Z", 1, 5, 0),
            i(99, "2024-03-02T12:00:00Z", 1, "", 0),   # unlabelled, but sets the latest time
            i(4, "2030-01-01T00:00:00Z", 1, "", 0).replace(",phone,", ",fax,"),  # invalid
        )
        customers = csv("1,12,1", "2,3,0", "3,40,1", "4,1,0", "6,24,0", "5,6,1", "10,60,0",
                        "15,18,0", header=CUSTOMER_HEADER)
        # Features by hand: interactions, pain, unresolved, mean csat, recency
        # days from 2024-03-02T12:00:00Z, tenure, mean wait.
        features = {
            1: (2, 1, 1, 3.0, 2.5, 12, 20.0),
            2: (1, 0, 0, 3.0, 1.5, 3, 5.0),
            3: (3, 2, 2, 2.5, 59.25, 40, 100.0),
            4: (0, 0, 0, 3.0, 365.0, 1, 0.0),
            6: (1, 0, 0, 3.0, 16.5, 24, 50.0),
            5: (1, 1, 1, 1.0, 6.5, 6, 300.0),
            10: (0, 0, 0, 3.0, 365.0, 60, 0.0),
            15: (1, 0, 0, 5.0, 1.5, 18, 0.0),
        }
        churned = {1: 1, 2: 0, 3: 1, 4: 0, 6: 0, 5: 1, 10: 0, 15: 0}
        prob, auc, accuracy = expected_churn(features, churned)
        r = self.analyze(interactions, customers)
        self.assert_rows(r, 11, 10, 1)
        self.assertEqual(r["customers"], 7)
        churn = r["churn"]
        self.assertEqual((churn["train_customers"], churn["holdout_customers"],
                          churn["unlabelled_customers"]), (5, 3, 1))
        self.assertAlmostEqual(churn["holdout_auc"], auc, delta=1e-6)
        self.assertAlmostEqual(churn["holdout_accuracy"], accuracy, delta=1e-6)
        expected_ids = sorted((c for c in churned if churned[c] == 0), key=lambda c: (-prob[c], c))
        probs = [prob[c] for c in expected_ids]
        self.assertTrue(all(a - b > 1e-6 for a, b in zip(probs, probs[1:])))  # no near ties
        self.assertEqual([e["customer_id"] for e in churn["at_risk"]], expected_ids)
        for e in churn["at_risk"]:
            self.assertAlmostEqual(e["probability"], prob[e["customer_id"]], delta=1e-6)

    def test_at_risk_keeps_20_with_ties_by_id(self):
        # No interactions: only tenure varies.  Churn iff tenure <= 2, so p
        # falls with tenure; customers of equal tenure tie exactly and come by
        # id ascending, train and holdout alike (2^64-1 is a holdout id).
        big = 2**64 - 1
        tenure = {c: c % 7 for c in range(1, 60)}
        tenure[big] = 3
        churned = {c: int(t <= 2) for c, t in tenure.items()}
        features = {c: (0, 0, 0, 3.0, 365.0, t, 0.0) for c, t in tenure.items()}
        prob, _, _ = expected_churn(features, churned)
        expected = sorted((c for c in tenure if not churned[c]), key=lambda c: (-prob[c], c))[:20]
        self.assertEqual(expected[:10], [3, 10, 17, 24, 31, 38, 45, 52, 59, big])
        self.assertGreater(prob[3] - prob[4], 1e-6)
        self.assertGreater(prob[4] - prob[5], 1e-6)
        lines = [f"{c},{tenure[c]},{churned[c]}" for c in tenure]
        r = self.analyze(csv(row(customer_id=1000)), csv(*lines, header=CUSTOMER_HEADER))
        churn = r["churn"]
        self.assertEqual((churn["train_customers"], churn["holdout_customers"],
                          churn["unlabelled_customers"]), (48, 12, 1))
        self.assertEqual([e["customer_id"] for e in churn["at_risk"]], expected)
        for e in churn["at_risk"]:
            self.assertAlmostEqual(e["probability"], prob[e["customer_id"]], delta=1e-6)

    def test_unrated_csat_and_no_interactions_defaults(self):
        # Train: 1 (no interactions: csat 3.0, recency 365, wait 0) and 2 (one
        # unrated interaction at the latest time: csat 3.0, recency 0).
        interactions = csv(row(customer_id=2, wait_seconds=0))
        customers = csv("1,10,1", "2,10,0", header=CUSTOMER_HEADER)
        features = {1: (0, 0, 0, 3.0, 365.0, 10, 0.0), 2: (1, 0, 0, 3.0, 0.0, 10, 0.0)}
        prob, _, _ = expected_churn(features, {1: 1, 2: 0})
        r = self.analyze(interactions, customers)
        at_risk = r["churn"]["at_risk"]
        self.assertEqual([e["customer_id"] for e in at_risk], [2])
        self.assertAlmostEqual(at_risk[0]["probability"], prob[2], delta=1e-6)
        self.assertLess(at_risk[0]["probability"], 0.5)


# ---------------------------------------------------------------------------
# Command line, output and file-level errors
# ---------------------------------------------------------------------------

class CommandLine(Base):
    def test_stdout_holds_exactly_the_json_without_out(self):
        path = self.write("interactions.csv", csv(row(), row(channel="x")))
        out = os.path.join(self.dir, "report.json")
        with_out = self.run_impl(["analyze", "--interactions", path, "--out", out])
        self.assertEqual(with_out.returncode, 0, with_out.stderr)
        self.assertNotEqual(with_out.stdout.strip(), b"")       # the summary
        with open(out, "rb") as f:
            file_bytes = f.read()
        plain = self.run_impl(["analyze", "--interactions", path])
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertEqual(plain.stdout, file_bytes)
        self.assertNotEqual(plain.stderr.strip(), b"")          # the summary went here
        json.loads(plain.stdout)
        quiet = self.run_impl(["analyze", "--interactions", path, "--quiet"])
        self.assertEqual(quiet.returncode, 0)
        self.assertEqual(quiet.stdout, file_bytes)
        self.assertEqual(quiet.stderr, b"")
        quiet_out = self.run_impl(["analyze", "--quiet", "--out", out, "--interactions", path])
        self.assertEqual(quiet_out.returncode, 0)
        self.assertEqual(quiet_out.stdout, b"")
        self.assertEqual(quiet_out.stderr, b"")

    def test_integers_are_written_exactly(self):
        big = 2**64 - 1
        path = self.write("interactions.csv", csv(row(customer_id=big)))
        cpath = self.write("customers.csv", csv(f"{big},1,0", header=CUSTOMER_HEADER))
        proc = self.run_impl(["analyze", "--interactions", path, "--customers", cpath, "--quiet"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(b"18446744073709551615", proc.stdout)
        report = json.loads(proc.stdout)
        self.assertEqual(report["churn"]["at_risk"][0]["customer_id"], big)

    def file_error(self, interactions, customers=None, cwd=None):
        out = os.path.join(self.dir, "report.json")
        with open(out, "wb") as f:
            f.write(b"previous report")
        before = sorted(os.listdir(self.dir))
        args = ["analyze", "--interactions", interactions, "--out", out, "--quiet"]
        if customers is not None:
            args += ["--customers", customers]
        proc = self.run_impl(args, cwd=cwd)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"previous report")
        self.assertEqual(sorted(os.listdir(self.dir)), before)
        self.assertEqual(proc.stdout, b"")
        return proc

    def test_missing_file_reports_the_path_as_given(self):
        proc = self.file_error("no-such-file.csv")
        self.assert_file_error(proc, "no-such-file.csv")

    def test_unreadable_file(self):
        os.mkdir(os.path.join(self.dir, "adir"))
        proc = self.file_error("adir")
        self.assert_file_error(proc, "adir")

    def test_interactions_checked_first(self):
        self.write("bad.csv", csv(header="customer_id,churned"))
        proc = self.file_error("missing.csv", "bad.csv")
        self.assert_file_error(proc, "missing.csv")
        proc = self.file_error(self.write("i.csv", b""), "bad.csv")
        self.assert_file_error(proc, os.path.join(self.dir, "i.csv"))

    def test_customers_file_errors(self):
        good = self.write("good.csv", csv(row()))
        for name, data in (("c1.csv", csv(header="customer_id,tenure_months")),
                           ("c2.csv", b""),
                           ("c3.csv", b"\xef\xbb\xbf"),
                           ("c4.csv", csv(header=CUSTOMER_HEADER + ",churned")),
                           ("c5.csv", csv(header='customer_id,tenure_months,"churned'))):
            with self.subTest(name=name):
                self.write(name, data)
                self.assert_file_error(self.file_error(good, name), name)
        self.assert_file_error(self.file_error(good, "nothing.csv"), "nothing.csv")

    def test_header_file_error_leaves_existing_report(self):
        path = self.write("i.csv", csv(row(), header=HEADER.replace("csat", "rating")))
        self.assert_file_error(self.file_error(path), path)

    def usage_error(self, args):
        out = os.path.join(self.dir, "report.json")
        proc = self.run_impl(args)
        self.assertEqual(proc.returncode, 2, f"{args}: {proc.stderr!r}")
        self.assertNotEqual(proc.stderr.strip(), b"", args)
        self.assertFalse(os.path.exists(out), args)

    def test_usage_errors(self):
        path = self.write("interactions.csv", csv(row()))
        out = os.path.join(self.dir, "report.json")
        base = ["analyze", "--interactions", path, "--out", out, "--quiet"]
        cases = [
            [],
            ["analyse", "--interactions", path],
            ["analyze"],
            ["analyze", "--out", out],
            ["analyze", "--interactions"],
            base + ["--bogus"],
            base + ["--customers"],
            base + ["--threads"],
            base + ["--threads", "0"],
            base + ["--threads", "-1"],
            base + ["--threads", "+4"],
            base + ["--threads", "four"],
            base + ["--threads", "1.5"],
            base + ["--threads", ""],
            base + ["--chunk-bytes", "0"],
            base + ["--chunk-bytes", "-5"],
            base + ["--chunk-bytes", "1k"],
            base + ["--max-record-bytes", "0"],
            base + ["--max-record-bytes", "+100"],
            base + ["extra-positional"],
        ]
        for args in cases:
            with self.subTest(args=args):
                self.usage_error(args)

    def test_smallest_settings_are_accepted(self):
        path = self.write("interactions.csv", csv(row(notes='"a\nb"'), row()))
        proc = self.run_impl(["analyze", "--interactions", path, "--threads", "1",
                              "--chunk-bytes", "1", "--max-record-bytes", "1000", "--quiet"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["rows"]["valid"], 2)

    def test_report_independent_of_threads_and_chunks(self):
        lines = []
        for k in range(60):
            notes = ['"multi\nline, with ""quotes"""', "plain", '"x,y"', ""][k % 4]
            lines.append(row(customer_id=k % 7, channel=CHANNELS[k % 5], topic=TOPICS[k % 10],
                             resolved=k % 2, csat=["", "1", "5"][k % 3], notes=notes,
                             wait_seconds=k * 13))
        lines[17] = row(channel="bad")
        data = b"\xef\xbb\xbf" + csv(*lines, eol="\r\n")
        path = self.write("interactions.csv", data)
        outputs = set()
        for threads, chunk in ((1, 1000000), (1, 1), (2, 2), (3, 5), (8, 7), (5, 64), (2, 4096)):
            proc = self.run_impl(["analyze", "--interactions", path, "--threads", str(threads),
                                  "--chunk-bytes", str(chunk), "--quiet"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            outputs.add(proc.stdout)
        self.assertEqual(len(outputs), 1)
        report = json.loads(outputs.pop())
        self.assertEqual(report["rows"], {"read": 60, "valid": 59, "invalid": 1})


def main():
    global IMPL
    argv = sys.argv[1:]
    if "--impl" in argv:
        i = argv.index("--impl")
        if i + 1 >= len(argv):
            sys.exit("--impl needs a command")
        IMPL = shlex.split(argv[i + 1])
        del argv[i:i + 2]
    # The tests run in temporary directories: make relative paths absolute.
    IMPL = [os.path.abspath(p) if os.sep in p and os.path.exists(p) else p for p in IMPL]
    unittest.main(argv=[sys.argv[0]] + argv)


if __name__ == "__main__":
    main()
