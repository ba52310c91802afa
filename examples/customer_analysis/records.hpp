// records.hpp - turns a stream of windows (consecutive pieces of a file) into records, in parallel.
//
// The file is read in windows that are fed here in order (see reader.hpp); a window is cut into
// chunks of --chunk-bytes, and each window is processed in three steps:
//   1. parallel: every chunk counts its '"' and '\n' bytes;
//   2. weft::parallel_exclusive_scan of those counts gives each chunk the quote parity and the LF
//      count (hence the line number) at its start;
//   3. weft::parallel_reduce over the chunks: each chunk finds the records that *start* inside it
//      (a record starts right after an LF that has an even quote count before it), follows each to
//      its end (possibly past the chunk's end), splitting it into fields on the way
//      (scan_records), and hands it to the handler, which folds it into a partial result;
//      partials are combined left to right.
// A record that begins before the window (the "carry") is completed sequentially; the incomplete
// record at the end of the window becomes the next carry. The carry keeps at most
// --max-record-bytes + 1 bytes: a longer record is only measured, not stored, so memory stays
// bounded whatever the input.
//
// A Handler provides:
//   using partial = ...;                        // what one chunk produces
//   partial identity() const;
//   void add(partial&, const record_ref&) const;  // called concurrently on different partials
//   partial combine(partial earlier, partial later) const;
//   void absorb(partial&&);                     // on the feeding thread, once per window, in order
//   void finish();                              // optional: called after the last absorb
#pragma once

#include <weft/weft.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "csv.hpp"

namespace customer_analysis {

template <class Handler>
class record_splitter {
 public:
  using partial = typename Handler::partial;

  // `lfs_before` is the number of LFs before the first byte that will be fed (the header's lines).
  record_splitter(weft::thread_pool& pool, Handler& handler, std::size_t chunk_bytes,
                  std::size_t max_record_bytes, std::uint64_t lfs_before)
      : pool_(pool),
        handler_(handler),
        chunk_bytes_(chunk_bytes),
        max_record_bytes_(max_record_bytes),
        lfs_(lfs_before) {}

  // Feeds the next window of the file.
  void feed(const char* d, std::size_t n) {
    if (n == 0) return;
    const std::size_t nchunks = (n - 1) / chunk_bytes_ + 1;
    const auto chunks = weft::chunked(std::size_t{0}, nchunks, 1);

    // Steps 1 and 2: counts per chunk, then their exclusive prefix sums.
    counts_.resize(nchunks);
    starts_.resize(nchunks);
    weft::parallel_for(pool_, chunks, [&](weft::chunk<std::size_t> c) {
      const std::size_t a = c.first() * chunk_bytes_;
      counts_[c.first()] = count_bytes(d + a, std::min(n - a, chunk_bytes_));
    });
    weft::parallel_exclusive_scan(pool_, counts_, starts_.begin(), byte_counts{}, std::plus<>{});
    const byte_counts total = starts_.back() + counts_.back();
    const bool parity_end = parity_ != ((total.quotes & 1) != 0);

    // The first record end in this window completes the carry. Found sequentially: it is at most
    // one record away (or the whole window, when a record is longer than a window).
    bool par = parity_;
    std::uint64_t unused = 0;
    const std::size_t t0 = find_terminator(d, 0, n, par, unused);
    if (t0 == n) {  // no record ends here: the whole window belongs to the carry
      if (carry_len_ == 0) carry_line_ = lfs_ + 1;
      append_carry(d, n);
      parity_ = parity_end;
      lfs_ += total.lfs;
      return;
    }
    // The last record end, found backwards from the parity at the window's end.
    std::size_t t_last = t0;
    par = parity_end;
    for (std::size_t i = n; i-- > t0 + 1;) {
      if (d[i] == '"') {
        par = !par;
      } else if (d[i] == '\n' && !par) {
        t_last = i;
        break;
      }
    }

    partial first = handler_.identity();
    finish_carry(first, d, t0);

    if (t_last > t0) {
      // Step 3: the records that start after t0 and end by t_last, chunk by chunk.
      partial middle = weft::parallel_reduce(
          pool_, chunks, handler_.identity(),
          [&](weft::chunk<std::size_t> c) {
            partial out = handler_.identity();
            scan_chunk(c.first(), d, n, t0, t_last, out);
            return out;
          },
          [this](partial a, partial b) { return handler_.combine(std::move(a), std::move(b)); });
      first = handler_.combine(std::move(first), std::move(middle));
    }
    handler_.absorb(std::move(first));

    // The bytes after the last record end start the next carry.
    const std::uint64_t lfs_end = lfs_ + total.lfs;
    const std::size_t tail = n - (t_last + 1);
    if (tail > 0) {
      const auto tail_lfs = static_cast<std::uint64_t>(std::count(d + t_last + 1, d + n, '\n'));
      carry_line_ = lfs_end - tail_lfs + 1;
      append_carry(d + t_last + 1, tail);
    }
    parity_ = parity_end;
    lfs_ = lfs_end;
  }

  // End of file: hands over the last record, then lets the handler finish what it started.
  void finish() {
    finish_carry_at_end();
    if constexpr (requires { handler_.finish(); }) handler_.finish();
  }

 private:
  // The pending bytes, if any, are the last record (it has no line break).
  void finish_carry_at_end() {
    if (carry_len_ == 0) return;
    partial out = handler_.identity();
    if (carry_len_ > max_record_bytes_) {
      handler_.add(out, {{}, carry_line_, record_problem::too_long});
    } else if (parity_) {
      handler_.add(out, {{}, carry_line_, record_problem::unterminated});
    } else {
      handler_.add(out, {carry_, carry_line_, record_problem::none});
    }
    handler_.absorb(std::move(out));
    carry_.clear();
    carry_len_ = 0;
  }

  // Hands one LF-terminated record to the handler: drops the CR of a CRLF, skips blank records,
  // and flags records over the length limit.
  void emit(partial& out, const char* p, std::size_t len, std::uint64_t line) const {
    if (len > 0 && p[len - 1] == '\r') --len;
    if (len == 0) return;
    if (len > max_record_bytes_) {
      handler_.add(out, {{}, line, record_problem::too_long});
    } else {
      handler_.add(out, {{p, len}, line, record_problem::none});
    }
  }

  void append_carry(const char* d, std::size_t n) {
    carry_len_ += n;
    carry_last_ = d[n - 1];
    // Keep bytes only while the record may still be short enough (+1 for a CR before the LF).
    if (carry_len_ <= static_cast<std::uint64_t>(max_record_bytes_) + 1) {
      carry_.append(d, n);
    } else {
      carry_.clear();
    }
  }

  // The record made of the carry and d[0, t0), where d[t0] is its LF.
  void finish_carry(partial& out, const char* d, std::size_t t0) {
    if (carry_len_ == 0) {
      emit(out, d, t0, lfs_ + 1);
      return;
    }
    const std::uint64_t full = carry_len_ + t0;
    const char last = t0 > 0 ? d[t0 - 1] : carry_last_;
    const std::uint64_t len = full - (last == '\r' ? 1 : 0);
    if (len == 0) {
      // a CRLF split between windows: a blank line, no record
    } else if (len > max_record_bytes_) {
      handler_.add(out, {{}, carry_line_, record_problem::too_long});
    } else {
      carry_.append(d, t0);  // the carry held every byte, since the record is short enough
      carry_.resize(static_cast<std::size_t>(len));
      handler_.add(out, {carry_, carry_line_, record_problem::none});
    }
    carry_.clear();
    carry_len_ = 0;
  }

  // Hands over the records that start in chunk k (after t0, at or before t_last).
  void scan_chunk(std::size_t k, const char* d, std::size_t n, std::size_t t0, std::size_t t_last,
                  partial& out) const {
    const std::size_t a = k * chunk_bytes_;
    const std::size_t b = std::min(n, a + chunk_bytes_);
    const std::size_t lo = std::max(a, t0 + 1);
    const std::size_t hi = std::min(b, t_last + 1);
    if (lo >= hi) return;
    bool par = parity_ != ((starts_[k].quotes & 1) != 0);
    std::uint64_t lf = lfs_ + starts_[k].lfs;
    for (std::size_t i = a; i < lo; ++i) {  // only in the chunk holding t0
      if (d[i] == '"')
        par = !par;
      else if (d[i] == '\n')
        ++lf;
    }
    // Is lo itself a record start? The byte before it is an LF with an even count before it
    // (that count equals the parity at lo, since an LF is not a quote).
    std::size_t p = hi;
    if (d[lo - 1] == '\n' && !par) {
      p = lo;
    } else {
      for (std::size_t i = lo; i + 1 < hi; ++i) {
        if (d[i] == '"') {
          par = !par;
        } else if (d[i] == '\n') {
          ++lf;
          if (!par) {
            p = i + 1;
            break;
          }
        }
      }
    }
    if (p >= hi) return;
    // Every record that starts before hi ends by t_last < n.
    scan_records(d, p, hi, n, lf, max_record_bytes_,
                 [&](const record_ref& r) { handler_.add(out, r); });
  }

  weft::thread_pool& pool_;
  Handler& handler_;
  std::size_t chunk_bytes_;
  std::size_t max_record_bytes_;
  bool parity_ = false;    // quote parity of everything fed so far
  std::uint64_t lfs_ = 0;  // LFs before the next byte to be fed
  std::string carry_;      // bytes of the unfinished record (while it may still be short enough)
  std::uint64_t carry_len_ = 0;
  std::uint64_t carry_line_ = 0;
  char carry_last_ = 0;
  std::vector<byte_counts> counts_, starts_;
};

}  // namespace customer_analysis
