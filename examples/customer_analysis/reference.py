#!/usr/bin/env python3
"""Reference implementation of ``customer_analysis analyze`` in plain Python.

This program is an independent implementation of the ``analyze`` subcommand
described in the example's contract (docs: customer-analysis spec).  It exists
for two reasons:

* as a cross-check: the C++ example and this script must produce the same
  report (integers and strings exactly, means and rates to the last bit, churn
  figures to 1e-6);
* as a speed anchor: it is written the way a careful Python developer would
  write a parallel CSV analysis with the standard library only, so that the
  C++ version can be compared against something reasonable.

How it works
------------
The main process reads the file in blocks of ``--chunk-bytes`` bytes.  A line
feed ends a record exactly when the number of ``"`` bytes before it in the
file is even, so the parity of the quote count at the start of each block (a
running prefix sum of per-block quote counts) tells where records end.  The
main process cuts the stream at the last record boundary of each block and
hands whole records to a ``multiprocessing.Pool``.  Workers parse and validate
their records and return partial aggregates (integer sums and counters only);
the main process merges them in file order, so line numbers, error lists and
"first valid row wins" rules come out the same as in a sequential read.

Records longer than ``--max-record-bytes`` are never buffered whole: the
reader notices them while scanning, reports them, and skips to their end.
At most two tasks per worker are in flight, so memory stays bounded by the
per-customer state whatever the size of the file.

The churn model's gradient descent cuts the train set into fixed shards of
rows; each epoch the pool computes the shards' partial sums, which are added
in shard order, so the report does not depend on ``--threads``.

Everything stays an exact integer until the final division; a mean or rate is
``float(S) / float(n)`` as the contract demands.

Usage::

    reference.py analyze --interactions FILE [--customers FILE] [--threads N]
                         [--chunk-bytes B] [--max-record-bytes B]
                         [--out REPORT.json] [--quiet]
"""

import collections
import heapq
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile

# ---------------------------------------------------------------------------
# Vocabulary of the contract
# ---------------------------------------------------------------------------

CHANNELS = ("phone", "email", "chat", "web", "branch")
TOPICS = ("billing", "claims", "withdrawal", "annuity_rates", "policy_change",
          "beneficiary", "account_access", "tax_forms", "complaint", "other")
CHANNEL_INDEX = {name.encode(): i for i, name in enumerate(CHANNELS)}
TOPIC_INDEX = {name.encode(): i for i, name in enumerate(TOPICS)}

INTERACTION_COLUMNS = ("interaction_id", "customer_id", "timestamp", "channel",
                       "topic", "wait_seconds", "handle_seconds", "resolved",
                       "csat", "notes")
CUSTOMER_COLUMNS = ("customer_id", "tenure_months", "churned")

STOP_WORDS = frozenset(
    b"the and for with that this was were are has have had not but from you "
    b"your they them their our she her his him its all any can did does into "
    b"out about after again been being than then there these those very will "
    b"would could should just also what when which who why how customer agent "
    b"call".split())

U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1
MAX_ERRORS = 100
PAIN_TERMS = 20
AT_RISK = 20
BEST_CHANNEL_MIN_INTERACTIONS = 30
EPOCHS = 300
LEARNING_RATE = 0.5
L2 = 1e-4

DEFAULT_CHUNK_BYTES = 1 << 20
DEFAULT_MAX_RECORD_BYTES = 1 << 20
MIN_TASK_BYTES = 1 << 20          # tiny chunks are batched into tasks this big
MAX_READ_BYTES = 64 << 20         # larger --chunk-bytes are read in pieces this big
BOM = b"\xef\xbb\xbf"

USAGE = """\
usage: reference.py analyze --interactions FILE [--customers FILE] [--threads N]
                            [--chunk-bytes B] [--max-record-bytes B]
                            [--out REPORT.json] [--quiet]"""

# Per (topic, channel) cell: the integer sums every statistic is built from.
CELL_N, CELL_RESOLVED, CELL_WAIT, CELL_HANDLE, CELL_CSAT_N, CELL_CSAT_SUM, CELL_PAIN = range(7)
# Per customer: [interactions, pain, unresolved, csat_n, csat_sum, latest_ts, wait_sum]


class UsageError(Exception):
    """A command-line error: usage message, exit status 2."""


class HelpRequested(Exception):
    """--help: print the usage on stdout and exit 0."""


class FileError(Exception):
    """A file-level error: ``error: <path>: <reason>``, exit status 2."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# ---------------------------------------------------------------------------
# Record boundaries
# ---------------------------------------------------------------------------

def last_boundary(block, parity):
    """Return the index of the last LF in ``block`` that ends a record, or -1.

    ``parity`` is the parity of the number of quotes in the file before
    ``block``.  A LF ends a record when the number of quotes before it is even.
    """
    pos = block.rfind(b"\n")
    if pos < 0:
        return -1
    odd = (parity + block.count(b'"', 0, pos)) & 1
    while odd:
        prev = block.rfind(b"\n", 0, pos)
        if prev < 0:
            return -1
        odd ^= block.count(b'"', prev, pos) & 1
        pos = prev
    return pos


def first_boundary(block, parity, start=0):
    """Return the index of the first LF in ``block[start:]`` that ends a record, or -1."""
    pos = start - 1
    odd = parity & 1
    while True:
        nxt = block.find(b"\n", pos + 1)
        if nxt < 0:
            return -1
        odd ^= block.count(b'"', pos + 1, nxt) & 1
        if not odd:
            return nxt
        pos = nxt


def read_pieces(f, chunk_bytes, max_record_bytes, progress=None):
    """Cut a byte stream into pieces that start and end at record boundaries.

    Yields ``("records", data, first_line, at_eof)`` where ``data`` holds whole
    records (each but possibly the last, when ``at_eof``, followed by its LF)
    starting on line ``first_line``, and ``("too_long", line)`` for a record
    longer than ``max_record_bytes``, which is skipped without being buffered.
    A leading UTF-8 BOM is dropped.
    """
    carry = []            # blocks holding the current, unfinished record
    carry_len = 0
    parity = 0            # parity of quotes since the current record started
    line = 1              # line on which the current record starts
    skipping = False      # inside an over-long record: discard up to its end
    first = True
    while True:
        block = f.read(chunk_bytes)
        if not block:
            break
        if progress:
            progress(len(block))
        if first:
            first = False
            # The BOM may straddle tiny blocks: read until 3 bytes are there.
            while len(block) < 3:
                more = f.read(chunk_bytes)
                if not more:
                    break
                if progress:
                    progress(len(more))
                block += more
            if block.startswith(BOM):
                block = block[3:]
        while block:
            if skipping:
                end = first_boundary(block, parity)
                if end < 0:
                    parity ^= block.count(b'"') & 1
                    line += block.count(b"\n")
                    break
                line += block.count(b"\n", 0, end + 1)
                block = block[end + 1:]
                skipping = False
                parity = 0
                continue
            end = last_boundary(block, parity)
            if end >= 0:
                carry.append(block[:end + 1])
                data = b"".join(carry)
                yield ("records", data, line, False)
                line += data.count(b"\n")
                block = block[end + 1:]
                carry = []
                carry_len = 0
                parity = 0
            carry.append(block)
            carry_len += len(block)
            parity ^= block.count(b'"') & 1
            if carry_len > max_record_bytes + 1:
                # Even if a CR and the ending LF come next, the record is too
                # long: report it now and skip to its end.
                yield ("too_long", line)
                for part in carry:
                    line += part.count(b"\n")
                carry = []
                carry_len = 0
                skipping = True
            break
    if carry_len and not skipping:
        yield ("records", b"".join(carry), line, True)


UNTERMINATED = "unterminated"


def iter_records(data, line, at_eof):
    """Yield ``(line, record, problem)`` for each non-blank record of ``data``.

    ``record`` excludes the line break that ends it (LF or CRLF); a record at
    the end of the file has no line break, so a final CR is part of it.
    ``problem`` is ``UNTERMINATED`` for a last record with an odd number of
    quotes, else ``None``.
    """
    lines = data.split(b"\n")
    last = len(lines) - 1
    i = 0
    while i <= last:
        piece = lines[i]
        j = i
        if piece.count(b'"') & 1:
            j = i + 1
            while j <= last and not (lines[j].count(b'"') & 1):
                j += 1
            if j > last:
                yield line + i, b"\n".join(lines[i:]), UNTERMINATED
                return
            piece = b"\n".join(lines[i:j + 1])
        if j < last and piece.endswith(b"\r"):
            piece = piece[:-1]
        if piece:
            yield line + i, piece, None
        i = j + 1


def split_fields(record):
    """Split a record into unquoted field values; ``None`` on malformed quoting.

    The record is split on every comma, then the pieces of each quoted field
    (which may contain commas) are joined again: a quoted field runs until
    its quote count is even.  It must then end with its closing quote, and
    inside it quotes may only come in ``""`` pairs.
    """
    first = record.find(b'"')
    if first < 0:
        return record.split(b",")
    if first and record[first - 1] != 0x2C:      # a quote inside an unquoted field
        return None
    fields = record[:first].split(b",")
    fields.pop()                                 # the empty piece before the quote
    parts = record[first:].split(b",")
    n = len(parts)
    i = 0
    while i < n:
        part = parts[i]
        if part[:1] != b'"':
            if b'"' in part:
                return None
            fields.append(part)
            i += 1
            continue
        j = i
        quotes = part.count(b'"')
        while quotes & 1:
            j += 1
            if j == n:
                return None                      # never closed
            quotes += parts[j].count(b'"')
        field = part if j == i else b",".join(parts[i:j + 1])
        if len(field) < 2 or field[-1] != 0x22:  # bytes after the closing quote
            return None
        value = field[1:-1]
        if quotes > 2:
            if b'"' in value.replace(b'""', b""):
                return None                      # a lone quote inside
            value = value.replace(b'""', b'"')
        fields.append(value)
        i = j + 1
    return fields


def record_problem(record, problem, max_record_bytes):
    """Return the structural error message of a record, or ``None``."""
    if len(record) > max_record_bytes:
        return too_long_message(max_record_bytes)
    if problem == UNTERMINATED:
        return "unterminated quote at end of file"
    return None


def too_long_message(max_record_bytes):
    return f"record longer than --max-record-bytes ({max_record_bytes} bytes)"


# ---------------------------------------------------------------------------
# Field rules
# ---------------------------------------------------------------------------

def parse_uint(value, limit):
    """Parse an integer by the contract's rules: ASCII digits only, <= limit."""
    if not value.isdigit():                 # bytes.isdigit: ASCII digits, non-empty
        return None
    if len(value) > 19:
        value = value.lstrip(b"0") or b"0"
        if len(value) > 20:
            return None
    number = int(value)
    return number if number <= limit else None


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def parse_date(date):
    """Seconds since the epoch of ``YYYY-MM-DD`` at midnight, or ``None``."""
    if len(date) != 10 or date[4] != 0x2D or date[7] != 0x2D:
        return None
    y, m, d = date[0:4], date[5:7], date[8:10]
    if not (y.isdigit() and m.isdigit() and d.isdigit()):
        return None
    year, month, day = int(y), int(m), int(d)
    if year < 1 or not 1 <= month <= 12 or day < 1:
        return None
    limit = 29 if month == 2 and is_leap(year) else DAYS_IN_MONTH[month - 1]
    if day > limit:
        return None
    return days_from_civil(year, month, day) * 86400


def parse_time(time):
    """Seconds since midnight of ``HH:MM:SS``, or ``None``."""
    if len(time) != 8 or time[2] != 0x3A or time[5] != 0x3A:
        return None
    h, m, s = time[0:2], time[3:5], time[6:8]
    if not (h.isdigit() and m.isdigit() and s.isdigit()):
        return None
    hour, minute, second = int(h), int(m), int(s)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour * 3600 + minute * 60 + second


class TimestampParser:
    """Validate ``YYYY-MM-DDTHH:MM:SSZ`` timestamps, caching dates and times."""

    def __init__(self):
        self.dates = {}
        self.times = {}

    def __call__(self, ts):
        if len(ts) != 20 or ts[10] != 0x54 or ts[19] != 0x5A:
            return None
        date = ts[:10]
        day = self.dates.get(date, -1)
        if day == -1:
            day = self.dates[date] = parse_date(date)
        if day is None:
            return None
        time = ts[11:19]
        sec = self.times.get(time, -1)
        if sec == -1:
            sec = self.times[time] = parse_time(time)
        if sec is None:
            return None
        return day + sec


def check_uint(limit, what):
    def check(value, _ts):
        return None if parse_uint(value, limit) is not None else what
    return check


def check_timestamp(value, ts_parser):
    if ts_parser(value) is None:
        return "not a valid YYYY-MM-DDTHH:MM:SSZ date and time"
    return None


def check_channel(value, _ts):
    return None if value in CHANNEL_INDEX else "unknown channel"


def check_topic(value, _ts):
    return None if value in TOPIC_INDEX else "unknown topic"


def check_flag(value, _ts):
    return None if value in (b"0", b"1") else "not 0 or 1"


def check_csat(value, _ts):
    if value == b"":
        return None
    number = parse_uint(value, 5)
    return None if number is not None and number >= 1 else "not empty or an integer from 1 to 5"


def check_any(_value, _ts):
    return None


U64_RULE = check_uint(U64_MAX, "not an integer from 0 to 18446744073709551615")
U32_RULE = check_uint(U32_MAX, "not an integer from 0 to 4294967295")

COLUMN_RULES = {
    "interactions": {
        "interaction_id": U64_RULE, "customer_id": U64_RULE,
        "timestamp": check_timestamp, "channel": check_channel,
        "topic": check_topic, "wait_seconds": U32_RULE,
        "handle_seconds": U32_RULE, "resolved": check_flag,
        "csat": check_csat, "notes": check_any,
    },
    "customers": {
        "customer_id": U64_RULE, "tenure_months": U32_RULE, "churned": check_flag,
    },
}


def first_offence(kind, fields, layout, ts_parser):
    """The first column, in field order, that breaks its rule.

    Returns ``(position, message)``, the message naming the column, or
    ``(None, None)`` when every column keeps its rule.
    """
    rules = COLUMN_RULES[kind]
    for pos, name in sorted((p, n) for n, p in layout["positions"].items()):
        reason = rules[name](fields[pos], ts_parser)
        if reason is not None:
            return pos, f"{name}: {reason}"
    return None, None


# ---------------------------------------------------------------------------
# Workers: parse a piece of records into a partial aggregate
# ---------------------------------------------------------------------------

def new_interaction_partial():
    return {
        "read": 0, "invalid": 0, "errors": [],
        "cells": [[0] * 7 for _ in range(len(TOPICS) * len(CHANNELS))],
        "customers": {}, "max_ts": None, "terms": collections.Counter(),
    }


CSAT_VALUES = {b"1": 1, b"2": 2, b"3": 3, b"4": 4, b"5": 5}
TERM_RE = re.compile(rb"[a-z0-9]{3,}")

_ts_parser = None


def analyse_interactions(task):
    """Parse one piece of interactions.csv into a partial aggregate."""
    global _ts_parser
    layout, data, line, at_eof = task
    if _ts_parser is None:
        _ts_parser = TimestampParser()
    ts_parser = _ts_parser
    out = new_interaction_partial()
    errors = out["errors"]
    cells = out["cells"]
    customers = out["customers"]
    terms = out["terms"]
    max_ts = None
    read = invalid = 0
    max_rb = layout["max_record_bytes"]
    nfields = layout["nfields"]
    pos = layout["positions"]
    p_iid, p_cid, p_ts = pos["interaction_id"], pos["customer_id"], pos["timestamp"]
    p_ch, p_top, p_wait = pos["channel"], pos["topic"], pos["wait_seconds"]
    p_handle, p_res, p_csat = pos["handle_seconds"], pos["resolved"], pos["csat"]
    p_notes = pos["notes"]
    channel_index = CHANNEL_INDEX
    topic_index = TOPIC_INDEX
    n_channels = len(CHANNELS)
    stop_words = STOP_WORDS
    find_terms = TERM_RE.findall

    def reject(line_no, message):
        if len(errors) < MAX_ERRORS:
            errors.append((line_no, message))

    for line_no, record, problem in iter_records(data, line, at_eof):
        read += 1
        if len(record) > max_rb or problem:
            invalid += 1
            reject(line_no, record_problem(record, problem, max_rb))
            continue
        f = split_fields(record)
        if f is None:
            invalid += 1
            reject(line_no, "malformed quoting")
            continue
        if len(f) != nfields:
            invalid += 1
            reject(line_no, f"field count {len(f)} differs from the header's {nfields}")
            continue
        # Fast path: parse every column; on any failure, find the first
        # offending column in field order with the slow, generic check.
        # (Integers short enough to be in range are parsed inline.)
        x = f[p_iid]
        iid = 0 if len(x) < 20 and x.isdigit() else parse_uint(x, U64_MAX)
        x = f[p_cid]
        cid = int(x) if len(x) < 20 and x.isdigit() else parse_uint(x, U64_MAX)
        ts = ts_parser(f[p_ts])
        ch = channel_index.get(f[p_ch])
        top = topic_index.get(f[p_top])
        x = f[p_wait]
        wait = int(x) if len(x) < 10 and x.isdigit() else parse_uint(x, U32_MAX)
        x = f[p_handle]
        handle = int(x) if len(x) < 10 and x.isdigit() else parse_uint(x, U32_MAX)
        res = f[p_res]
        resolved = 1 if res == b"1" else 0 if res == b"0" else None
        csat_field = f[p_csat]
        if csat_field:
            csat = CSAT_VALUES.get(csat_field)
            if csat is None:
                csat = parse_uint(csat_field, 5)
            csat_ok = csat is not None and csat >= 1
        else:
            csat = None
            csat_ok = True
        if (iid is None or cid is None or ts is None or ch is None or top is None
                or wait is None or handle is None or resolved is None or not csat_ok):
            invalid += 1
            reject(line_no, first_offence("interactions", f, layout, ts_parser)[1])
            continue
        pain = 1 if (not resolved or (csat is not None and csat <= 2)) else 0
        cell = cells[top * n_channels + ch]
        cell[0] += 1
        cell[1] += resolved
        cell[2] += wait
        cell[3] += handle
        if csat is not None:
            cell[4] += 1
            cell[5] += csat
        cell[6] += pain
        st = customers.get(cid)
        if st is None:
            customers[cid] = [1, pain, 1 - resolved, 0 if csat is None else 1,
                              csat or 0, ts, wait]
        else:
            st[0] += 1
            st[1] += pain
            st[2] += 1 - resolved
            if csat is not None:
                st[3] += 1
                st[4] += csat
            if ts > st[5]:
                st[5] = ts
            st[6] += wait
        if max_ts is None or ts > max_ts:
            max_ts = ts
        if pain:
            for term in find_terms(f[p_notes].lower()):
                if term not in stop_words:
                    terms[term] += 1
    out["read"] = read
    out["invalid"] = invalid
    out["max_ts"] = max_ts
    return out


def analyse_customers(task):
    """Parse one piece of customers.csv into a list of row outcomes, in order.

    Each outcome is ``(line, customer_id, tenure, churned, message)``:
    ``message`` is ``None`` for a row that is valid on its own, else the
    reason it is invalid.  An invalid row still carries its customer_id when
    that column is valid and comes before the offending one, because a
    duplicate id is then the first offence.  Duplicates are settled by the
    merge, which sees the rows in file order.
    """
    layout, data, line, at_eof = task
    max_rb = layout["max_record_bytes"]
    nfields = layout["nfields"]
    pos = layout["positions"]
    p_cid, p_ten, p_ch = pos["customer_id"], pos["tenure_months"], pos["churned"]
    rows = []
    for line_no, record, problem in iter_records(data, line, at_eof):
        if len(record) > max_rb or problem:
            rows.append((line_no, None, None, None, record_problem(record, problem, max_rb)))
            continue
        f = split_fields(record)
        if f is None:
            rows.append((line_no, None, None, None, "malformed quoting"))
            continue
        if len(f) != nfields:
            rows.append((line_no, None, None, None,
                         f"field count {len(f)} differs from the header's {nfields}"))
            continue
        cid = parse_uint(f[p_cid], U64_MAX)
        bad_pos, message = first_offence("customers", f, layout, None)
        if message is not None:
            rows.append((line_no, cid if bad_pos > p_cid else None, None, None, message))
            continue
        rows.append((line_no, cid, parse_uint(f[p_ten], U32_MAX), f[p_ch] == b"1", None))
    return rows


def run_task(task):
    """Entry point of a pool worker: dispatch on the file kind."""
    kind, payload = task
    if kind == "too_long":
        return kind, payload
    if kind == "interactions":
        return kind, analyse_interactions(payload)
    return kind, analyse_customers(payload)


# ---------------------------------------------------------------------------
# Reading a file: header in the main process, records in the pool
# ---------------------------------------------------------------------------

def open_input(path):
    """Open an input file, turning OS errors into file-level errors."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise FileError(path, e.strerror or str(e)) from None
    return f


def read_header(path, pieces, required, max_record_bytes):
    """Consume the header from ``pieces``; return the layout and the rest.

    The rest is a list of pieces still to analyse (the remainder of the
    piece that held the header).
    """
    for piece in pieces:
        if piece[0] == "too_long":
            raise FileError(path, f"header longer than --max-record-bytes ({max_record_bytes} bytes)")
        _, data, line, at_eof = piece
        # Skip blank lines in front of the header.
        start = 0
        while True:
            if data.startswith(b"\n", start):
                start += 1
                line += 1
            elif data.startswith(b"\r\n", start):
                start += 2
                line += 1
            else:
                break
        if start == len(data):
            continue
        end = first_boundary(data, 0, start)
        if end < 0:
            record, rest = data[start:], b""
            problem = UNTERMINATED if record.count(b'"') & 1 else None
        else:
            record, rest = data[start:end], data[end + 1:]
            problem = None
            if record.endswith(b"\r"):
                record = record[:-1]
        rest_line = line + record.count(b"\n") + 1
        if len(record) > max_record_bytes:
            raise FileError(path, f"header longer than --max-record-bytes ({max_record_bytes} bytes)")
        if problem:
            raise FileError(path, "unterminated quote in header")
        names = split_fields(record)
        if names is None:
            raise FileError(path, "malformed quoting in header")
        positions = {}
        for name in required:
            found = [i for i, n in enumerate(names) if n == name.encode()]
            if not found:
                raise FileError(path, f"header lacks required column '{name}'")
            if len(found) > 1:
                raise FileError(path, f"header names column '{name}' twice")
            positions[name] = found[0]
        layout = {"positions": positions, "nfields": len(names),
                  "max_record_bytes": max_record_bytes}
        rest_pieces = [("records", rest, rest_line, at_eof)] if rest else []
        return layout, rest_pieces
    raise FileError(path, "empty file (no header record)")


def batched(pieces, min_bytes):
    """Join consecutive record pieces into tasks of at least ``min_bytes``."""
    pending = []
    size = 0
    for piece in pieces:
        if piece[0] == "too_long":
            if pending:
                yield ("records", b"".join(p[1] for p in pending), pending[0][2], False)
                pending, size = [], 0
            yield piece
            continue
        pending.append(piece)
        size += len(piece[1])
        if size >= min_bytes or piece[3]:
            yield ("records", b"".join(p[1] for p in pending), pending[0][2], piece[3])
            pending, size = [], 0
    if pending:
        yield ("records", b"".join(p[1] for p in pending), pending[0][2], pending[-1][3])


class Executor:
    """Run tasks in a process pool (or inline for one thread), results in order.

    At most a few tasks per worker are in flight, so memory stays bounded
    however large the file is.
    """

    def __init__(self, threads):
        self.threads = threads
        self.pool = None

    def map_ordered(self, tasks):
        if self.threads == 1:
            for task in tasks:
                yield run_task(task)
            return
        if self.pool is None:
            self.pool = multiprocessing.Pool(self.threads)
        window = collections.deque()
        for task in tasks:
            window.append(self.pool.apply_async(run_task, (task,)))
            if len(window) >= 2 * self.threads:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()

    def close(self):
        if self.pool is not None:
            self.pool.close()
            self.pool.join()


class Progress:
    """A progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, enabled, total):
        self.enabled = enabled and total > 0 and sys.stderr.isatty()
        self.total = total
        self.done = 0
        self.shown = -1

    def __call__(self, nbytes):
        if not self.enabled:
            return
        self.done += nbytes
        percent = self.done * 100 // self.total
        if percent != self.shown:
            self.shown = percent
            bar = "#" * (percent // 5)
            sys.stderr.write(f"\rreading [{bar:<20}] {percent:3d}%")
            sys.stderr.flush()

    def finish(self):
        if self.enabled and self.shown >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()


class InputFile:
    """An opened input whose header has been read and checked."""

    def __init__(self, kind, path, options, show_progress):
        self.kind = kind
        self.path = path
        self.file = open_input(path)
        try:
            size = os.fstat(self.file.fileno()).st_size
            self.progress = Progress(show_progress, size)
            self.pieces = read_pieces(self.file, min(options["chunk_bytes"], MAX_READ_BYTES),
                                      options["max_record_bytes"], self.progress)
            required = INTERACTION_COLUMNS if kind == "interactions" else CUSTOMER_COLUMNS
            self.layout, self.rest = read_header(path, self.pieces, required,
                                                 options["max_record_bytes"])
        except OSError as e:
            self.file.close()
            raise FileError(path, e.strerror or str(e)) from None
        except FileError:
            self.file.close()
            raise
        self.task_bytes = min(max(options["chunk_bytes"], MIN_TASK_BYTES), MAX_READ_BYTES)

    def tasks(self):
        """The analysis tasks of this file, in file order."""
        def all_pieces():
            yield from self.rest
            yield from self.pieces
        try:
            for piece in batched(all_pieces(), self.task_bytes):
                if piece[0] == "too_long":
                    yield ("too_long", (piece[1], too_long_message(self.layout["max_record_bytes"])))
                else:
                    yield (self.kind, (self.layout,) + piece[1:])
        except OSError as e:
            raise FileError(self.path, e.strerror or str(e)) from None
        finally:
            self.progress.finish()
            self.file.close()


# ---------------------------------------------------------------------------
# Merging partial aggregates
# ---------------------------------------------------------------------------

class InteractionTotals:
    """Totals over interactions.csv, merged from partial aggregates in order."""

    def __init__(self):
        self.read = 0
        self.invalid = 0
        self.errors = []
        self.cells = [[0] * 7 for _ in range(len(TOPICS) * len(CHANNELS))]
        self.customers = {}
        self.max_ts = None
        self.terms = collections.Counter()

    def add_error(self, line, message):
        if len(self.errors) < MAX_ERRORS:
            self.errors.append((line, message))

    def merge(self, part):
        self.read += part["read"]
        self.invalid += part["invalid"]
        for line, message in part["errors"]:
            self.add_error(line, message)
        for total, cell in zip(self.cells, part["cells"]):
            if cell[0]:
                for k in range(7):
                    total[k] += cell[k]
        mine = self.customers
        for cid, st in part["customers"].items():
            cur = mine.get(cid)
            if cur is None:
                mine[cid] = st
            else:
                cur[0] += st[0]
                cur[1] += st[1]
                cur[2] += st[2]
                cur[3] += st[3]
                cur[4] += st[4]
                if st[5] > cur[5]:
                    cur[5] = st[5]
                cur[6] += st[6]
        if part["max_ts"] is not None and (self.max_ts is None or part["max_ts"] > self.max_ts):
            self.max_ts = part["max_ts"]
        self.terms.update(part["terms"])

    def merge_too_long(self, line, message):
        self.read += 1
        self.invalid += 1
        self.add_error(line, message)


class CustomerTotals:
    """Rows of customers.csv, merged in order; the first valid row of an id wins."""

    def __init__(self):
        self.read = 0
        self.invalid = 0
        self.errors = []
        self.population = {}          # customer_id -> (tenure_months, churned)

    def reject(self, line, message):
        self.invalid += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append((line, message))

    def merge(self, rows):
        population = self.population
        for line, cid, tenure, churned, message in rows:
            self.read += 1
            if cid is not None and cid in population:
                self.reject(line, "customer_id: duplicate of an earlier valid row")
            elif message is not None:
                self.reject(line, message)
            else:
                population[cid] = (tenure, churned)

    def merge_too_long(self, line, message):
        self.read += 1
        self.reject(line, message)


def consume(executor, input_file, totals):
    for kind, result in executor.map_ordered(input_file.tasks()):
        if kind == "too_long":
            totals.merge_too_long(*result)
        else:
            totals.merge(result)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def ratio(numerator, count):
    """A mean or rate as the contract defines it: float(S) / float(n), or None."""
    return float(numerator) / float(count) if count else None


def stats_entry(cell):
    n = cell[CELL_N]
    return {
        "interactions": n,
        "resolved_rate": ratio(cell[CELL_RESOLVED], n),
        "mean_wait_seconds": ratio(cell[CELL_WAIT], n),
        "mean_handle_seconds": ratio(cell[CELL_HANDLE], n),
        "csat_responses": cell[CELL_CSAT_N],
        "mean_csat": ratio(cell[CELL_CSAT_SUM], cell[CELL_CSAT_N]),
        "pain_rate": ratio(cell[CELL_PAIN], n),
    }


def sum_cells(cells):
    total = [0] * 7
    for cell in cells:
        for k in range(7):
            total[k] += cell[k]
    return total


def best_channels(cells):
    """Per topic, the qualifying channel of lowest pain rate (ties: list order)."""
    nc = len(CHANNELS)
    best = {}
    for t, topic in enumerate(TOPICS):
        choice, choice_rate = None, None
        for c, channel in enumerate(CHANNELS):
            cell = cells[t * nc + c]
            if cell[CELL_N] >= BEST_CHANNEL_MIN_INTERACTIONS:
                rate = ratio(cell[CELL_PAIN], cell[CELL_N])
                if choice is None or rate < choice_rate:
                    choice, choice_rate = channel, rate
        best[topic] = choice
    return best


def top_terms(terms):
    ranked = heapq.nsmallest(PAIN_TERMS, terms.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"term": term.decode("ascii"), "count": count} for term, count in ranked]


def sigmoid(z):
    """The logistic function, safe from overflow for any z."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def linear(w, b, row):
    """``b + w . row``, summed left to right like the training loop does."""
    z = b
    for wj, xj in zip(w, row):
        z += wj * xj
    return z


SHARD_ROWS = 4096
_shards = []      # the train set in shards; forked workers inherit it


def shard_sums(job):
    """Sums of (p - y) * x_j and of (p - y) over one shard of the train set."""
    k, w, b = job
    rows, labels, columns = _shards[k]
    w0, w1, w2, w3, w4, w5, w6 = w
    exp = math.exp
    try:
        residual = [1.0 / (1.0 + exp(-(b + w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3
                                       + w4 * x4 + w5 * x5 + w6 * x6))) - y
                    for (x0, x1, x2, x3, x4, x5, x6), y in zip(rows, labels)]
    except OverflowError:
        residual = [sigmoid(linear(w, b, row)) - y for row, y in zip(rows, labels)]
    return [sum(map(float.__mul__, residual, column)) for column in columns] + [sum(residual)]


def gradient_descent(rows, labels, threads):
    """Full-batch gradient descent of the logistic regression; returns (w, b).

    The train set is cut into fixed shards whose partial sums are added in
    shard order, so the result does not depend on the number of processes.
    """
    global _shards
    n_features = 7
    w = [0.0] * n_features
    b = 0.0
    if not rows:
        return w, b
    _shards = []
    for lo in range(0, len(rows), SHARD_ROWS):
        shard = rows[lo:lo + SHARD_ROWS]
        _shards.append((shard, labels[lo:lo + SHARD_ROWS],
                        [[row[j] for row in shard] for j in range(n_features)]))
    jobs = range(len(_shards))
    processes = min(threads, len(_shards))
    pool = multiprocessing.Pool(processes) if processes > 1 else None
    try:
        n = float(len(rows))
        for _ in range(EPOCHS):
            if pool is None:
                partials = [shard_sums((k, w, b)) for k in jobs]
            else:
                partials = pool.map(shard_sums, [(k, w, b) for k in jobs])
            totals = partials[0]
            for partial in partials[1:]:
                totals = [t + p for t, p in zip(totals, partial)]
            grad_w = [totals[j] / n + L2 * w[j] for j in range(n_features)]
            grad_b = totals[n_features] / n
            w = [w[j] - LEARNING_RATE * grad_w[j] for j in range(n_features)]
            b -= LEARNING_RATE * grad_b
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        _shards = []
    return w, b


def churn_model(population, stats, max_ts, threads=1):
    """Fit the contract's logistic regression and evaluate it on the holdout."""
    ids = sorted(population)
    n_features = 7
    features = []
    for cid in ids:
        tenure = population[cid][0]
        st = stats.get(cid)
        if st is None:
            features.append((0.0, 0.0, 0.0, 3.0, 365.0, float(tenure), 0.0))
            continue
        n, pain, unresolved, csat_n, csat_sum, latest, wait_sum = st
        features.append((
            float(n), float(pain), float(unresolved),
            float(csat_sum) / float(csat_n) if csat_n else 3.0,
            float(max_ts - latest) / 86400.0,
            float(tenure),
            float(wait_sum) / float(n),
        ))
    labels = [1.0 if population[cid][1] else 0.0 for cid in ids]
    holdout = [cid % 5 == 0 for cid in ids]
    train = [i for i, h in enumerate(holdout) if not h]
    test = [i for i, h in enumerate(holdout) if h]

    # Standardise each feature with the train set's mean and population std.
    columns = []
    for j in range(n_features):
        values = [row[j] for row in features]
        train_values = [values[i] for i in train]
        if not train_values or min(train_values) == max(train_values):
            columns.append([0.0] * len(ids))
            continue
        mean = sum(train_values) / len(train_values)
        std = math.sqrt(sum((v - mean) * (v - mean) for v in train_values) / len(train_values))
        columns.append([(v - mean) / std for v in values])
    x = list(zip(*columns)) if ids else []

    w, b = gradient_descent([x[i] for i in train], [labels[i] for i in train], threads)

    probs = [sigmoid(linear(w, b, row)) for row in x]

    # Holdout evaluation.
    auc = accuracy = None
    if test:
        correct = sum(1 for i in test if (probs[i] >= 0.5) == (labels[i] == 1.0))
        accuracy = ratio(correct, len(test))
        positives = sum(1 for i in test if labels[i] == 1.0)
        negatives = len(test) - positives
        if positives and negatives:
            ranked = sorted((probs[i], labels[i]) for i in test)
            twice_rank_sum = 0           # twice the sum of positive ranks (1-based)
            k = 0
            while k < len(ranked):
                m = k
                while m + 1 < len(ranked) and ranked[m + 1][0] == ranked[k][0]:
                    m += 1
                twice_mid_rank = (k + 1) + (m + 1)   # average rank of the tie group, doubled
                for r in range(k, m + 1):
                    if ranked[r][1] == 1.0:
                        twice_rank_sum += twice_mid_rank
                k = m + 1
            auc = (twice_rank_sum - positives * (positives + 1)) / (2 * positives * negatives)

    candidates = ((-probs[i], cid) for i, cid in enumerate(ids) if labels[i] == 0.0)
    at_risk = [{"customer_id": cid, "probability": -negp}
               for negp, cid in heapq.nsmallest(AT_RISK, candidates)]
    return {
        "train_customers": len(train),
        "holdout_customers": len(test),
        "holdout_auc": auc,
        "holdout_accuracy": accuracy,
        "at_risk": at_risk,
    }


def build_report(interactions, customers, threads=1):
    """Assemble the JSON report from the merged totals."""
    nc = len(CHANNELS)
    cells = interactions.cells
    report = {
        "rows": {"read": interactions.read,
                 "valid": interactions.read - interactions.invalid,
                 "invalid": interactions.invalid},
        "errors": [{"line": line, "message": msg} for line, msg in interactions.errors],
        "customer_rows": None,
        "customer_errors": None,
        "customers": len(interactions.customers),
        "by_topic": {topic: stats_entry(sum_cells(cells[t * nc:(t + 1) * nc]))
                     for t, topic in enumerate(TOPICS)},
        "by_channel": {channel: stats_entry(sum_cells(cells[c::nc]))
                       for c, channel in enumerate(CHANNELS)},
        "best_channel": best_channels(cells),
        "pain_terms": top_terms(interactions.terms),
        "churn": None,
    }
    if customers is not None:
        report["customer_rows"] = {"read": customers.read,
                                   "valid": customers.read - customers.invalid,
                                   "invalid": customers.invalid}
        report["customer_errors"] = [{"line": line, "message": msg}
                                     for line, msg in customers.errors]
        model = churn_model(customers.population, interactions.customers, interactions.max_ts,
                            threads)
        unlabelled = sum(1 for cid in interactions.customers if cid not in customers.population)
        report["churn"] = {
            "train_customers": model["train_customers"],
            "holdout_customers": model["holdout_customers"],
            "unlabelled_customers": unlabelled,
            "holdout_auc": model["holdout_auc"],
            "holdout_accuracy": model["holdout_accuracy"],
            "at_risk": model["at_risk"],
        }
    return report


def summary(report):
    """A short human-readable summary of the report."""
    rows = report["rows"]
    out = [f"interactions: {rows['read']} read, {rows['valid']} valid, {rows['invalid']} invalid; "
           f"{report['customers']} customers"]
    if report["customer_rows"] is not None:
        cr = report["customer_rows"]
        out.append(f"customers.csv: {cr['read']} read, {cr['valid']} valid, {cr['invalid']} invalid")
    worst = [(v["pain_rate"], k) for k, v in report["by_topic"].items() if v["pain_rate"] is not None]
    if worst:
        rate, topic = max(worst)
        out.append(f"most painful topic: {topic} (pain rate {rate:.3f})")
    best = ", ".join(f"{t}: {c}" for t, c in report["best_channel"].items() if c)
    if best:
        out.append(f"best channel per topic: {best}")
    terms = ", ".join(f"{t['term']} ({t['count']})" for t in report["pain_terms"][:10])
    if terms:
        out.append(f"top pain terms: {terms}")
    churn = report["churn"]
    if churn is not None:
        auc = "n/a" if churn["holdout_auc"] is None else f"{churn['holdout_auc']:.3f}"
        acc = "n/a" if churn["holdout_accuracy"] is None else f"{churn['holdout_accuracy']:.3f}"
        out.append(f"churn model: {churn['train_customers']} train, {churn['holdout_customers']} "
                   f"holdout, AUC {auc}, accuracy {acc}")
        if churn["at_risk"]:
            top = churn["at_risk"][0]
            out.append(f"most at risk: customer {top['customer_id']} "
                       f"(p = {top['probability']:.3f})")
    return "\n".join(out) + "\n"


def write_report(text, path):
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)           # mkstemp's 0600 is not for a report
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def positive_int(option, text):
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise UsageError(f"{option} needs a positive decimal integer, not '{text}'")
    return int(text)


def parse_args(argv):
    if not argv:
        raise UsageError("missing subcommand")
    if argv[0] != "analyze":
        if argv[0] == "generate":
            raise UsageError("this reference implements only 'analyze'")
        raise UsageError(f"unknown subcommand '{argv[0]}'")
    options = {"interactions": None, "customers": None, "threads": os.cpu_count() or 1,
               "chunk_bytes": DEFAULT_CHUNK_BYTES, "max_record_bytes": DEFAULT_MAX_RECORD_BYTES,
               "out": None, "quiet": False}
    valued = {"--interactions": ("interactions", str), "--customers": ("customers", str),
              "--out": ("out", str),
              "--threads": ("threads", positive_int), "--chunk-bytes": ("chunk_bytes", positive_int),
              "--max-record-bytes": ("max_record_bytes", positive_int)}
    i = 1
    while i < len(argv):
        arg = argv[i]
        name, eq, inline_value = arg.partition("=")
        if arg == "--quiet":
            options["quiet"] = True
        elif arg in ("-h", "--help"):
            raise HelpRequested()
        elif name in valued and name.startswith("--"):
            if eq:
                value = inline_value                     # --option=value
            elif i + 1 < len(argv):
                value = argv[i + 1]
                i += 1
            else:
                raise UsageError(f"{arg} needs a value")
            key, convert = valued[name]
            options[key] = value if convert is str else convert(name, value)
        else:
            raise UsageError(f"unknown argument '{arg}'")
        i += 1
    if options["interactions"] is None:
        raise UsageError("--interactions is required")
    return options


def processes(threads):
    """Worker processes for --threads N: more than the CPUs would not help."""
    return max(1, min(threads, os.cpu_count() or 1))


def analyze(options):
    """Run the analysis; return the report as JSON text."""
    show = not options["quiet"]
    interactions = InputFile("interactions", options["interactions"], options, show)
    customers = None
    if options["customers"] is not None:
        try:
            customers = InputFile("customers", options["customers"], options, show)
        except FileError:
            interactions.file.close()
            raise
    executor = Executor(processes(options["threads"]))
    try:
        totals = InteractionTotals()
        consume(executor, interactions, totals)
        customer_totals = None
        if customers is not None:
            customer_totals = CustomerTotals()
            consume(executor, customers, customer_totals)
    finally:
        executor.close()
    report = build_report(totals, customer_totals, processes(options["threads"]))
    return report, json.dumps(report, indent=2) + "\n"


def main(argv):
    try:
        options = parse_args(argv)
    except HelpRequested:
        sys.stdout.write(USAGE + "\n")
        return 0
    except UsageError as e:
        sys.stderr.write(f"error: {e}\n{USAGE}\n")
        return 2
    try:
        report, text = analyze(options)
        if options["out"] is not None:
            try:
                write_report(text, options["out"])
            except OSError as e:
                raise FileError(options["out"], e.strerror or str(e)) from None
            if not options["quiet"]:
                sys.stdout.write(summary(report))
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
            if not options["quiet"]:
                sys.stderr.write(summary(report))
    except FileError as e:
        sys.stderr.write(f"error: {e.path}: {e.reason}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
