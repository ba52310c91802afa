// fuzz_records.cpp - libFuzzer target for the record boundary finder and the record parser.
//
// For each input: the header is read with read_header(), then the rest is split into records by the
// parallel record_splitter with a small chunk and window size taken from the first input bytes, and
// the records are compared with those of a plain byte-by-byte splitter written here from the
// contract. The fields the splitter found on the way (most records get them) and those of
// split_record() are both compared with a plain field splitter. Every record then goes through the
// interactions.csv column rules (when the header names the columns), which must not crash or read
// out of bounds. Any difference aborts, and libFuzzer keeps the input.
#include <weft/weft.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "aggregate.hpp"
#include "csv.hpp"
#include "records.hpp"
#include "schema.hpp"

namespace {

namespace ca = customer_analysis;

struct found {
  std::uint64_t line;
  std::string bytes;
  ca::record_problem problem;
  bool operator==(const found&) const = default;
};

// Collects the records in file order, with the fields the splitter found for them, if any.
struct collector {
  struct entry {
    found record;
    bool split = false;
    std::vector<std::string> fields;
  };
  using partial = std::vector<entry>;
  partial identity() const { return {}; }
  void add(partial& out, const ca::record_ref& r) const {
    out.push_back({{r.line, std::string(r.bytes), r.problem},
                   !r.fields.empty(),
                   std::vector<std::string>(r.fields.begin(), r.fields.end())});
  }
  partial combine(partial a, partial b) const {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
  void absorb(partial&& p) { all.insert(all.end(), p.begin(), p.end()); }
  std::vector<found> records() const {
    std::vector<found> out;
    for (const entry& e : all) out.push_back(e.record);
    return out;
  }
  std::vector<entry> all;
};

// The contract's rules, one byte at a time, with no cleverness at all.
std::vector<found> plain_split(const char* d, std::size_t n, std::uint64_t lfs_before,
                               std::size_t max_record) {
  std::vector<found> out;
  bool parity = false;
  std::uint64_t lfs = lfs_before;
  std::string rec;
  std::uint64_t rec_line = lfs + 1;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = d[i];
    if (c == '\n' && !parity) {
      if (!rec.empty() && rec.back() == '\r') rec.pop_back();
      if (!rec.empty()) {
        if (rec.size() > max_record)
          out.push_back({rec_line, {}, ca::record_problem::too_long});
        else
          out.push_back({rec_line, rec, ca::record_problem::none});
      }
      rec.clear();
      ++lfs;
      rec_line = lfs + 1;
      continue;
    }
    if (c == '"') parity = !parity;
    if (c == '\n') ++lfs;
    rec.push_back(c);
  }
  if (!rec.empty()) {
    if (rec.size() > max_record)
      out.push_back({rec_line, {}, ca::record_problem::too_long});
    else if (parity)
      out.push_back({rec_line, {}, ca::record_problem::unterminated});
    else
      out.push_back({rec_line, rec, ca::record_problem::none});
  }
  return out;
}

weft::thread_pool& pool() {
  static weft::thread_pool p{2};
  return p;
}

// The fields of one record, byte by byte from the contract: a field is quoted when its first byte
// is '"', and then runs to a '"' not followed by another one ("" stands for one '"'), which must be
// followed by ',' or the end; an unquoted field may not hold '"'.
ca::split_status plain_fields(std::string_view r, std::vector<std::string>& out) {
  out.clear();
  std::size_t i = 0;
  for (;;) {
    std::string field;
    if (i < r.size() && r[i] == '"') {
      for (++i;; ++i) {
        if (i == r.size()) return ca::split_status::unterminated_quote;
        if (r[i] != '"') {
          field += r[i];
        } else if (i + 1 < r.size() && r[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          break;
        }
      }
      ++i;  // the closing quote
      if (i < r.size() && r[i] != ',') return ca::split_status::malformed_quoting;
    } else {
      for (; i < r.size() && r[i] != ','; ++i) {
        if (r[i] == '"') return ca::split_status::malformed_quoting;
        field += r[i];
      }
    }
    out.push_back(field);
    if (i == r.size()) return ca::split_status::ok;
    ++i;  // the comma: another field follows, perhaps empty
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::size_t chunk = 1 + data[0] % 64;  // from 16 bytes, count_bytes takes 16 at a time
  const std::size_t max_record = 1 + data[1] % 64;
  const std::size_t window = chunk * (1 + data[2] % 4);
  const char* d = reinterpret_cast<const char*>(data + 3);
  const std::size_t n = size - 3;

  auto read_at = [&](std::uint64_t off, char* buf, std::size_t len) -> std::size_t {
    if (off >= n) return 0;
    const std::size_t k = std::min<std::size_t>(len, n - static_cast<std::size_t>(off));
    std::memcpy(buf, d + off, k);
    return k;
  };
  const ca::header_result h = ca::read_header(read_at, max_record);
  if (h.status != ca::header_result::kind::ok) return 0;
  if (h.bytes.size() > max_record) std::abort();

  collector c;
  ca::record_splitter<collector> splitter(pool(), c, chunk, max_record, h.lfs_before_data);
  for (std::size_t at = static_cast<std::size_t>(h.data_offset); at < n; at += window)
    splitter.feed(d + at, std::min(window, n - at));
  splitter.finish();

  const std::size_t start = static_cast<std::size_t>(h.data_offset);
  if (c.records() != plain_split(d + start, n - start, h.lfs_before_data, max_record)) std::abort();

  // The parser and the column rules on every record.
  std::vector<std::string_view> fields;
  std::string scratch;
  if (ca::split_record(h.bytes, fields, scratch) != ca::split_status::ok) return 0;
  std::vector<std::uint8_t> roles;
  try {
    roles = ca::map_header(fields, ca::interaction_columns);
  } catch (const ca::file_error&) {
    roles.assign(fields.size(), 0);  // no usable header: validate every field as an id
  }
  ca::interaction_handler handler(pool(), roles, max_record);
  auto part = handler.identity();
  for (const collector::entry& e : c.all) {
    const found& f = e.record;
    const ca::split_status status = ca::split_record(f.bytes, fields, scratch);
    std::vector<std::string> expected;
    if (status != plain_fields(f.bytes, expected)) std::abort();
    if (status == ca::split_status::ok &&
        std::vector<std::string>(fields.begin(), fields.end()) != expected)
      std::abort();
    if (e.split && (status != ca::split_status::ok || e.fields != expected)) std::abort();
    // The column rules, with the splitter's fields when it found them, as the program runs them.
    std::vector<std::string_view> views(e.fields.begin(), e.fields.end());
    handler.add(part, {f.bytes, f.line, f.problem, views});
  }
  if (part.totals.read != part.totals.valid + part.totals.invalid) std::abort();
  handler.absorb(std::move(part));
  return 0;
}
