// analyze.hpp - the `analyze` command from files to report, without the command line.
//
// What lives here: opening both files and checking their headers first (so that a file-level error
// is reported before any long work), streaming each file through the record splitter with
// read-ahead, the progress bar, and the final assembly of the report.
//
// Memory: the windows in flight (3 at most, of chunk-bytes x chunks-per-window each), the carry of
// at most --max-record-bytes + 1 bytes, and the per-customer state. Nothing grows with the file
// size except the number of distinct customers (and of distinct pain terms).
#pragma once

#include <weft/weft.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aggregate.hpp"
#include "churn.hpp"
#include "csv.hpp"
#include "reader.hpp"
#include "records.hpp"
#include "report.hpp"
#include "schema.hpp"
#include <unistd.h>

namespace customer_analysis {

struct analyze_options {
  std::string interactions;              // path as given on the command line
  std::optional<std::string> customers;  // path, if any
  std::size_t chunk_bytes = 0;           // 0: chosen per file (chunk_bytes_for)
  std::size_t max_record_bytes = std::size_t{1} << 20;
  bool progress = false;   // draw a progress bar on stderr
  bool read_ahead = true;  // read the next windows on an I/O thread while parsing
  bool map = false;        // map large windows of regular files rather than read them
};

// The chunk size for `data_bytes` of records: --chunk-bytes when given; else 1 MiB, or less for a
// file too small to give every worker a few chunks of that size (a 700 kB customers.csv would
// otherwise be one chunk, parsed by one thread while the others wait), but not below 64 KiB, where
// the per-chunk partials would cost more than the parallelism gains. The report does not depend
// on it.
inline std::size_t chunk_bytes_for(const analyze_options& o, std::uint64_t data_bytes,
                                   std::size_t workers) {
  if (o.chunk_bytes != 0) return o.chunk_bytes;
  const std::uint64_t few_per_worker = data_bytes / (4 * std::max<std::size_t>(1, workers));
  return static_cast<std::size_t>(
      std::clamp<std::uint64_t>(few_per_worker, std::uint64_t{64} << 10, std::uint64_t{1} << 20));
}

// A window holds several chunks, so that every worker has a chunk or more per window; it is kept
// near 16 MiB or less (a single chunk may be larger, when asked for).
inline std::size_t window_bytes(std::size_t chunk_bytes, std::size_t workers) {
  const std::size_t target = std::size_t{16} << 20;
  const std::size_t most = std::max<std::size_t>(1, 4 * workers);
  const std::size_t k = std::clamp<std::size_t>(target / chunk_bytes, 1, most);
  return chunk_bytes * k;
}

// Bytes read / total, throughput and time left, redrawn at most ten times a second.
class progress_bar {
 public:
  progress_bar(bool enabled, std::uint64_t total) : enabled_(enabled), total_(total) {}
  void advance(std::uint64_t bytes) {
    done_ += bytes;
    if (!enabled_) return;
    const auto now = clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && done_ < total_) return;
    last_ = now;
    draw(now);
  }
  void finish() {
    if (enabled_ && drawn_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  using clock = std::chrono::steady_clock;
  void draw(clock::time_point now) {
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double mb = static_cast<double>(done_) / 1e6;
    const double rate = secs > 0 ? mb / secs : 0;
    const double frac =
        total_ ? std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_)) : 1.0;
    const int width = 30, filled = static_cast<int>(frac * width);
    const double eta =
        rate > 0 ? (static_cast<double>(total_ - std::min(total_, done_)) / 1e6) / rate : 0;
    std::fprintf(stderr, "\r[%.*s%*s] %.1f/%.1f MB  %.1f MB/s  ETA %d:%02d ", filled,
                 "##############################", width - filled, "", mb,
                 static_cast<double>(total_) / 1e6, rate, static_cast<int>(eta) / 60,
                 static_cast<int>(eta) % 60);
    std::fflush(stderr);
    drawn_ = true;
  }
  bool enabled_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  clock::time_point start_ = clock::now();
  clock::time_point last_ = start_;  // first drawing after 100 ms
  bool drawn_ = false;
};

// An opened CSV file whose header has been checked.
struct checked_file {
  std::unique_ptr<input_file> file;
  header_result header;
  std::vector<std::uint8_t> roles;  // per header field: the required column it is, or 0xff
};

template <std::size_t N>
checked_file open_checked(const std::string& path, std::size_t max_record_bytes,
                          const std::array<std::string_view, N>& required) {
  checked_file c;
  c.file = std::make_unique<input_file>(path);
  c.header = read_header(
      [&](std::uint64_t off, char* buf, std::size_t n) { return c.file->read_at(off, buf, n); },
      max_record_bytes);
  using kind = header_result::kind;
  switch (c.header.status) {
    case kind::ok:
      break;
    case kind::empty:
      throw file_error(path, "empty file");
    case kind::only_blank:
      throw file_error(path, "no header: the file holds only blank lines");
    case kind::too_long:
      throw file_error(path, "header longer than --max-record-bytes (" +
                                 std::to_string(max_record_bytes) + " bytes)");
    case kind::unterminated:
      throw file_error(path, "malformed quoting in the header (unterminated quote)");
  }
  std::vector<std::string_view> fields;
  std::string scratch;
  if (split_record(c.header.bytes, fields, scratch) != split_status::ok)
    throw file_error(path, "malformed quoting in the header");
  try {
    c.roles = map_header(fields, required);
  } catch (const file_error& e) {
    throw file_error(path, e.what());
  }
  return c;
}

// Streams the data records of `f` (everything after its header) through `handler`.
template <class Handler>
void stream_records(weft::thread_pool& pool, const checked_file& f, Handler& handler,
                    const analyze_options& o, progress_bar& bar) {
  const std::uint64_t remaining =
      f.file->size() > f.header.data_offset ? f.file->size() - f.header.data_offset : 0;
  const std::size_t chunk = chunk_bytes_for(o, remaining, pool.size());
  record_splitter<Handler> splitter(pool, handler, chunk, o.max_record_bytes,
                                    f.header.lfs_before_data);
  // No buffer larger than the file needs: a huge --chunk-bytes must not allocate for nothing.
  const std::size_t window = static_cast<std::size_t>(std::min<std::uint64_t>(
      window_bytes(chunk, pool.size()), std::max<std::uint64_t>(remaining, 4096)));
  for_each_window(
      *f.file, f.header.data_offset, window, o.read_ahead,
      [&](const char* d, std::size_t n) {
        splitter.feed(d, n);
        bar.advance(n);
      },
      ~std::uint64_t{0}, o.map);
  splitter.finish();
}

// Runs the whole analysis. Throws file_error for file-level errors (the caller prints them).
inline json analyze(weft::thread_pool& pool, const analyze_options& o) {
  // Both headers are checked before any data is read: interactions.csv first.
  checked_file inter = open_checked(o.interactions, o.max_record_bytes, interaction_columns);
  std::optional<checked_file> cust;
  if (o.customers) cust = open_checked(*o.customers, o.max_record_bytes, customer_columns);

  const std::uint64_t total = inter.file->size() + (cust ? cust->file->size() : 0);
  progress_bar bar(o.progress, total);
  bar.advance(inter.header.data_offset + (cust ? cust->header.data_offset : 0));

  interaction_handler ih(pool, inter.roles, o.max_record_bytes);
  stream_records(pool, inter, ih, o, bar);

  std::optional<customer_handler> ch;
  std::optional<churn_result> churn;
  if (cust) {
    ch.emplace(cust->roles, o.max_record_bytes);
    stream_records(pool, *cust, *ch, o, bar);
  }
  bar.finish();

  std::uint64_t distinct = 0;
  for (const auto& shard : ih.shards()) distinct += shard.size();
  if (ch) {
    churn = run_churn(pool, ch->totals().population, ih.shards(), ih.totals().any_valid,
                      ih.totals().latest);
  }
  return build_report(ih.totals(), distinct, ch ? &ch->totals() : nullptr,
                      churn ? &*churn : nullptr);
}

}  // namespace customer_analysis
