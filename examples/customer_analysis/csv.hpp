// csv.hpp - the CSV rules of the example, with no knowledge of columns or of threads.
//
// What lives here:
//   * split_record(): cuts one record (its bytes, without the line break) into field values,
//     undoing the quoting, and detects malformed quoting.
//   * count_bytes(): counts the quotes and line feeds of a chunk (the first parallel pass).
//   * find_terminator(): from a record start, finds the line feed that ends the record.
//   * scan_records(): finds the records of a buffer and splits them into fields in the same pass,
//     64 bytes at a time (the path nearly every record of a large file takes).
//   * read_header(): the sequential reading of the header record at the top of a file.
//
// The central rule (see the contract): a line feed ends a record exactly when the number of
// '"' bytes before it in the file is even. Because of that rule, a record always starts at an even
// quote count, and the quote parity at the start of any chunk is the parity of the sum of the
// quote counts of the chunks before it - which is what makes record boundaries findable in
// parallel (count per chunk, then an exclusive scan). The streaming part is in records.hpp.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace customer_analysis {

// Why a record is not even handed to the column rules.
enum class record_problem : std::uint8_t {
  none,          // a complete record within the length limit
  too_long,      // longer than --max-record-bytes; its bytes were not kept
  unterminated,  // the file ended inside a quoted field (odd quote count at end of file)
};

// One record as the splitter hands it to a handler. `bytes` excludes the line break (and the CR of
// a CRLF); it is empty when problem != none. `line` is 1 + the number of LFs before its first byte.
// `fields`, when not empty, are the record's fields as split_record() would give them (the splitter
// found them on the way: only for records whose quoted fields hold no "" escape); when empty, the
// handler calls split_record(), which also finds malformed quoting.
struct record_ref {
  std::string_view bytes;
  std::uint64_t line = 0;
  record_problem problem = record_problem::none;
  std::span<const std::string_view> fields = {};
};

enum class split_status : std::uint8_t { ok, malformed_quoting, unterminated_quote };

// The first ',' or '"' in s[i, n), or n: where an unquoted field ends (or is found malformed).
inline std::size_t find_comma_or_quote(const char* s, std::size_t i, std::size_t n) {
#if defined(__SSE2__) && defined(__x86_64__)
  // Unquoted fields are short, and most end within the first 16 bytes: one compare of a block
  // does what a byte loop does in eight or more steps.
  const __m128i comma = _mm_set1_epi8(','), quote = _mm_set1_epi8('"');
  for (; n - i >= 16; i += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    const int found =
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(bytes, comma), _mm_cmpeq_epi8(bytes, quote)));
    if (found != 0)
      return i + static_cast<std::size_t>(std::countr_zero(static_cast<unsigned>(found)));
  }
#endif
  for (; i < n; ++i)
    if (s[i] == ',' || s[i] == '"') return i;
  return n;
}

// Splits `rec` into fields. Unquoted fields and quoted fields without "" escapes are views into
// `rec`; fields with escapes are unescaped into `scratch`, which is reserved to rec.size() first so
// that it never reallocates while views into it are alive. Both vectors are reused by the caller
// from record to record, so the steady state allocates nothing.
inline split_status split_record(std::string_view rec, std::vector<std::string_view>& fields,
                                 std::string& scratch) {
  fields.clear();
  scratch.clear();
  const char* const s = rec.data();
  const std::size_t n = rec.size();
  std::size_t i = 0;
  for (;;) {
    if (i < n && s[i] == '"') {
      // Quoted field: runs to the quote that is not followed by another quote.
      std::size_t j = i + 1;
      const std::size_t start = j;
      bool escaped = false;
      std::size_t close = 0;
      for (;;) {
        const void* q = j < n ? std::memchr(s + j, '"', n - j) : nullptr;
        if (q == nullptr) return split_status::unterminated_quote;
        const std::size_t k = static_cast<std::size_t>(static_cast<const char*>(q) - s);
        if (k + 1 < n && s[k + 1] == '"') {
          escaped = true;
          j = k + 2;
          continue;
        }
        close = k;
        break;
      }
      if (!escaped) {
        fields.emplace_back(s + start, close - start);
      } else {
        if (scratch.capacity() < n) scratch.reserve(n);
        const std::size_t at = scratch.size();
        // Every '"' in [start, close) is the first of a "" pair: copy up to and including it, in
        // one go, then skip its twin.
        for (std::size_t k = start; k < close;) {
          const void* q = std::memchr(s + k, '"', close - k);
          if (q == nullptr) {
            scratch.append(s + k, close - k);
            break;
          }
          const std::size_t quote = static_cast<std::size_t>(static_cast<const char*>(q) - s);
          scratch.append(s + k, quote + 1 - k);
          k = quote + 2;
        }
        fields.emplace_back(scratch.data() + at, scratch.size() - at);
      }
      i = close + 1;
      if (i == n) return split_status::ok;
      if (s[i] != ',') return split_status::malformed_quoting;  // a byte after the closing quote
      ++i;
      if (i == n) {  // "x", at the very end: one more (empty) field
        fields.emplace_back(s + n, 0);
        return split_status::ok;
      }
    } else {
      const std::size_t end = find_comma_or_quote(s, i, n);
      if (end < n && s[end] == '"') return split_status::malformed_quoting;  // a quote inside
      fields.emplace_back(s + i, end - i);
      if (end == n) return split_status::ok;
      i = end + 1;
      if (i == n) {  // trailing comma: one more (empty) field
        fields.emplace_back(s + n, 0);
        return split_status::ok;
      }
    }
  }
}

// The fields of `r` in `out`: those the splitter found, or else split_record()'s, kept in `fields`
// and `scratch` (reused by the caller from record to record).
inline split_status record_fields(const record_ref& r, std::vector<std::string_view>& fields,
                                  std::string& scratch, std::span<const std::string_view>& out) {
  if (!r.fields.empty()) {
    out = r.fields;
    return split_status::ok;
  }
  const split_status status = split_record(r.bytes, fields, scratch);
  out = fields;
  return status;
}

// Quote and LF counts of a byte range; the unit of the exclusive scan that gives each chunk the
// quote parity and the line number at its start.
struct byte_counts {
  std::uint64_t quotes = 0;
  std::uint64_t lfs = 0;
  friend byte_counts operator+(byte_counts a, byte_counts b) {
    return {a.quotes + b.quotes, a.lfs + b.lfs};
  }
};

inline byte_counts count_bytes(const char* d, std::size_t n) {
  byte_counts c;
  std::size_t i = 0;
#if defined(__SSE2__) && defined(__x86_64__)
  // The first parallel pass reads every byte of the file, so it is worth 16 bytes a step: a
  // compare gives -1 per match in each byte lane, subtracted into per-lane counters that are
  // summed (psadbw) before they can overflow, every 255 steps.
  const __m128i quote = _mm_set1_epi8('"'), lf = _mm_set1_epi8('\n');
  auto lane_sum = [](__m128i lanes) {  // the sum of the 16 byte counters
    const __m128i halves = _mm_sad_epu8(lanes, _mm_setzero_si128());
    return static_cast<std::uint64_t>(_mm_cvtsi128_si64(halves)) +
           static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(halves, halves)));
  };
  while (n - i >= 16) {
    __m128i quotes = _mm_setzero_si128(), lfs = _mm_setzero_si128();
    for (int step = 0; step < 255 && n - i >= 16; ++step, i += 16) {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
      quotes = _mm_sub_epi8(quotes, _mm_cmpeq_epi8(bytes, quote));
      lfs = _mm_sub_epi8(lfs, _mm_cmpeq_epi8(bytes, lf));
    }
    c.quotes += lane_sum(quotes);
    c.lfs += lane_sum(lfs);
  }
#endif
  c.quotes += static_cast<std::uint64_t>(std::count(d + i, d + n, '"'));
  c.lfs += static_cast<std::uint64_t>(std::count(d + i, d + n, '\n'));
  return c;
}

// Scans forward from `p` for the LF that ends a record: the first LF with an even quote count
// before it. `parity` is the file's quote parity at `p` on entry (false at a record start) and at
// the returned position on return. Returns that position, or `n` when no record ends before `n`.
// Adds the LFs it passes (those inside quoted fields) to `lfs_inside`.
inline std::size_t find_terminator(const char* d, std::size_t p, std::size_t n, bool& parity,
                                   std::uint64_t& lfs_inside) {
  std::size_t i = p;
#if defined(__SSE2__) && defined(__x86_64__)
  // Every record goes through here: 16 bytes a step, as bit masks of the quotes and the LFs. The
  // quotes below an LF decide its parity; most records have no LF inside quotes, so the inner
  // loop runs once, at the block that holds the record's end.
  const __m128i quote = _mm_set1_epi8('"'), lf = _mm_set1_epi8('\n');
  for (; n - i >= 16; i += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    auto quotes = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, quote)));
    auto lfs = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, lf)));
    for (; lfs != 0; lfs &= lfs - 1) {
      const int at = std::countr_zero(lfs);
      const unsigned below = (1u << at) - 1;
      if (std::popcount(quotes & below) & 1) parity = !parity;
      quotes &= ~below;
      if (!parity) return i + static_cast<std::size_t>(at);
      ++lfs_inside;  // an LF inside quotes: part of the record, but still a line
    }
    if (std::popcount(quotes) & 1) parity = !parity;
  }
#endif
  for (; i < n; ++i) {
    if (d[i] == '"') {
      parity = !parity;
    } else if (d[i] == '\n') {
      if (!parity) return i;
      ++lfs_inside;
    }
  }
  return n;
}

// The quotes, commas and LFs of a 64-byte block, as masks: bit i stands for byte i.
struct block_bits {
  std::uint64_t quotes = 0, commas = 0, lfs = 0;
};

inline block_bits classify_block(const char* p) {
  block_bits b;
#if defined(__SSE2__) && defined(__x86_64__)
  const __m128i quote = _mm_set1_epi8('"'), comma = _mm_set1_epi8(','), lf = _mm_set1_epi8('\n');
  auto bits = [](__m128i bytes, __m128i of, int shift) {
    const auto lanes = static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, of)));
    return std::uint64_t{lanes} << shift;
  };
  for (int k = 0; k < 4; ++k) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    b.quotes |= bits(bytes, quote, 16 * k);
    b.commas |= bits(bytes, comma, 16 * k);
    b.lfs |= bits(bytes, lf, 16 * k);
  }
#else
  for (int i = 0; i < 64; ++i) {
    const std::uint64_t bit = std::uint64_t{1} << i;
    if (p[i] == '"') b.quotes |= bit;
    if (p[i] == ',') b.commas |= bit;
    if (p[i] == '\n') b.lfs |= bit;
  }
#endif
  return b;
}

// Bit i of the result is the parity of the set bits of x at or below i. Applied to the quote mask
// it marks the bytes inside quotes (the opening quote counted in, the closing one out): a comma or
// an LF is a separator exactly where that bit is 0.
constexpr std::uint64_t prefix_xor(std::uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

// The number of set bits of a mask that has few of them (the quotes or the LFs of one record).
// Without -mpopcnt, std::popcount is a library call; a step per set bit is cheaper for such masks.
inline std::uint64_t count_few_bits(std::uint64_t x) {
#if defined(__POPCNT__)
  return static_cast<std::uint64_t>(std::popcount(x));
#else
  std::uint64_t count = 0;
  for (; x != 0; x &= x - 1) ++count;
  return count;
#endif
}

// Hands `on_record` every record that starts in [p, hi), with its fields where it can: `p` is a
// record start, and every record that starts before `hi` must end (with an LF outside quotes)
// before `n`. `lfs_before` is the number of LFs in the file before d[p]. Blank records are
// skipped, the CR of a CRLF is dropped, a record over `max_record_bytes` is passed as too_long.
//
// One pass, 64 bytes a step: the block's quote mask, prefix-xored, tells which commas and LFs are
// outside quotes; those are the field and record ends, visited lowest bit first. A field that
// starts and ends with '"' is taken as quoted without looking inside. That is right exactly when
// the record holds no other quote: so the quotes of each record are counted (popcount), and a
// record with more quotes than twice its quoted fields (an escape "", or malformed quoting) is
// passed without fields, for split_record() to handle; so is a record of more than 64 fields (the
// fields live on the stack, not in a vector that a huge record could make huge). Records are
// found exactly as
// find_terminator() finds them; the fuzzer checks both against a plain splitter.
template <class OnRecord>
void scan_records(const char* d, std::size_t p, std::size_t hi, std::size_t n,
                  std::uint64_t lfs_before, std::size_t max_record_bytes, OnRecord&& on_record) {
  constexpr std::size_t most_fields = 64;
  std::string_view fields[most_fields];
  std::size_t field_count = 0;    // of the current record, those beyond most_fields included
  std::size_t record = p;         // where the current record starts
  std::size_t field = p;          // where its current field starts
  std::uint64_t quotes = 0;       // its quotes seen so far
  std::uint64_t lfs_inside = 0;   // its LFs seen so far (inside quotes, hence not its end)
  std::size_t quoted_fields = 0;  // its fields that start and end with '"'
  std::uint64_t line = lfs_before + 1;
  bool in_quotes = false;                               // at the start of the next block
  auto end_field = [&](std::size_t a, std::size_t e) {  // a field's bytes: [a, e)
    if (field_count < most_fields) {
      if (e - a >= 2 && d[a] == '"' && d[e - 1] == '"') {
        ++quoted_fields;
        fields[field_count] = std::string_view(d + a + 1, e - a - 2);
      } else {
        fields[field_count] = std::string_view(d + a, e - a);
      }
    }
    ++field_count;
  };
  for (std::size_t block = p; block < n; block += 64) {
    char padded[64];
    const char* b = d + block;
    if (n - block < 64) {  // the last bytes: zeros are neither quotes, commas nor LFs
      std::memset(padded, 0, sizeof padded);
      std::memcpy(padded, b, n - block);
      b = padded;
    }
    const block_bits bits = classify_block(b);
    const std::uint64_t inside = prefix_xor(bits.quotes) ^ (in_quotes ? ~std::uint64_t{0} : 0);
    in_quotes = (inside >> 63) != 0;
    std::uint64_t taken = 0;  // the bits up to the last record end in this block
    for (std::uint64_t ends = (bits.commas | bits.lfs) & ~inside; ends != 0; ends &= ends - 1) {
      const int at = std::countr_zero(ends);
      const std::size_t pos = block + static_cast<std::size_t>(at);
      const std::uint64_t bit = std::uint64_t{1} << at;
      if ((bits.lfs & bit) == 0) {  // a comma: the end of a field
        end_field(field, pos);
        field = pos + 1;
        continue;
      }
      const std::uint64_t mine = (bit - 1) & ~taken;  // this record's bits of this block
      quotes += count_few_bits(bits.quotes & mine);
      lfs_inside += count_few_bits(bits.lfs & mine);
      taken = (bit << 1) - 1;  // wraps to all ones at bit 63
      std::size_t len = pos - record;
      if (len > 0 && d[pos - 1] == '\r') --len;
      if (len > max_record_bytes) {
        on_record(record_ref{{}, line, record_problem::too_long});
      } else if (len > 0) {
        end_field(field, record + len);
        const bool plain = quotes == 2 * quoted_fields && field_count <= most_fields;
        on_record(record_ref{{d + record, len},
                             line,
                             record_problem::none,
                             plain ? std::span<const std::string_view>(fields, field_count)
                                   : std::span<const std::string_view>()});
      }
      line += lfs_inside + 1;
      if (pos + 1 >= hi) return;
      record = field = pos + 1;
      quotes = lfs_inside = 0;
      quoted_fields = field_count = 0;
    }
    quotes += count_few_bits(bits.quotes & ~taken);
    lfs_inside += count_few_bits(bits.lfs & ~taken);
  }
}

// The header: the first record that is not blank. Read sequentially from the top of the file
// (after a BOM), with bounded memory, before the parallel reading of the data starts.
struct header_result {
  enum class kind { ok, empty, only_blank, too_long, unterminated } status = kind::empty;
  std::string bytes;              // the header record, without its line break
  std::uint64_t data_offset;      // file offset just after the header's line break (or end of file)
  std::uint64_t lfs_before_data;  // LFs in [0, data_offset)
};

// `read_at(offset, buffer, size)` returns the number of bytes read (0 at end of file) and throws on
// an I/O error, so that the same code reads a file (pread) or a memory buffer (the fuzzer).
inline header_result read_header(
    const std::function<std::size_t(std::uint64_t, char*, std::size_t)>& read_at,
    std::size_t max_record_bytes) {
  header_result r;
  char buf[65536];
  std::uint64_t offset = 0;
  // An optional UTF-8 BOM at the very start is skipped.
  std::size_t got = read_at(0, buf, 3);
  while (got < 3) {
    const std::size_t more = read_at(got, buf + got, 3 - got);
    if (more == 0) break;
    got += more;
  }
  if (got == 3 && static_cast<unsigned char>(buf[0]) == 0xEF &&
      static_cast<unsigned char>(buf[1]) == 0xBB && static_cast<unsigned char>(buf[2]) == 0xBF)
    offset = 3;
  bool any_byte = false;
  bool parity = false;
  std::uint64_t lfs = 0;
  std::uint64_t rec_len = 0;
  char last = 0;
  for (;;) {
    const std::size_t n = read_at(offset, buf, sizeof buf);
    if (n == 0) break;
    any_byte = true;
    for (std::size_t i = 0; i < n; ++i) {
      const char c = buf[i];
      if (c == '\n' && !parity) {
        const std::uint64_t len = rec_len - (rec_len > 0 && last == '\r' ? 1 : 0);
        ++lfs;
        if (len == 0) {  // a blank line: no record
          rec_len = 0;
          r.bytes.clear();
          last = 0;
          continue;
        }
        if (len > max_record_bytes) {
          r.status = header_result::kind::too_long;
          return r;
        }
        r.bytes.resize(len);
        r.status = header_result::kind::ok;
        r.data_offset = offset + i + 1;
        r.lfs_before_data = lfs;
        return r;
      }
      if (c == '"') parity = !parity;
      if (c == '\n') ++lfs;
      ++rec_len;
      last = c;
      // Even after dropping a final CR it would be longer than allowed: stop reading.
      if (rec_len > static_cast<std::uint64_t>(max_record_bytes) + 1) {
        r.status = header_result::kind::too_long;
        return r;
      }
      r.bytes.push_back(c);
    }
    offset += n;
  }
  // End of file inside the header or after blank lines only.
  if (rec_len == 0) {
    r.status = any_byte ? header_result::kind::only_blank : header_result::kind::empty;
    return r;
  }
  if (rec_len > max_record_bytes) {
    r.status = header_result::kind::too_long;
    return r;
  }
  if (parity) {
    r.status = header_result::kind::unterminated;
    return r;
  }
  r.status = header_result::kind::ok;
  r.data_offset = offset;
  r.lfs_before_data = lfs;
  return r;
}

}  // namespace customer_analysis
