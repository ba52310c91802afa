// schema.hpp - the columns of the two input files and the rule each value must follow.
//
// What lives here: the topic and channel lists (their order is the report's order), the required
// columns of interactions.csv and customers.csv, the header check (columns found by name, in any
// order), and one small validator per column rule. Validators never throw and never overflow: an
// integer is checked digit by digit against its column's maximum.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace customer_analysis {

inline constexpr std::array<std::string_view, 10> topic_names = {
    "billing",     "claims",         "withdrawal", "annuity_rates", "policy_change",
    "beneficiary", "account_access", "tax_forms",  "complaint",     "other"};
inline constexpr std::array<std::string_view, 5> channel_names = {"phone", "email", "chat", "web",
                                                                  "branch"};
inline constexpr std::size_t topic_count = topic_names.size();
inline constexpr std::size_t channel_count = channel_names.size();

// Index of `v` in `names`, or -1 (the header's column names).
template <std::size_t N>
int find_name(const std::array<std::string_view, N>& names, std::string_view v) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == v) return static_cast<int>(i);
  return -1;
}

// A word of at most 8 bytes packed into an integer (first byte lowest), for cheap comparisons.
constexpr std::uint64_t pack_word(std::string_view w) {
  std::uint64_t x = 0;
  for (std::size_t i = w.size(); i-- > 0;) x = (x << 8) | static_cast<unsigned char>(w[i]);
  return x;
}

// find_name for a list of names of at most 16 bytes, looked up twice per record (channel and
// topic): a name is its length and its first and last 8 bytes packed, so that a candidate is
// three integer compares rather than a call to memcmp. The candidate is found by a hash into a
// table of 64 slots, with a multiplier chosen when the index is built so that no two names share
// a slot: one lookup per value, where a scan of the list would end at a different place for each
// topic and mislead the branch predictor once per record.
template <std::size_t N>
class name_index {
 public:
  constexpr explicit name_index(const std::array<std::string_view, N>& names) {
    static_assert(N < slot_count, "more names than slots");
    for (std::size_t i = 0; i < N; ++i) {
      if (names[i].size() > 16) throw std::invalid_argument("name_index: a name over 16 bytes");
      keys_[i] = key_of(names[i]);
    }
    for (std::uint64_t tries = 0;; ++tries) {
      if (tries == 10000) throw std::invalid_argument("name_index: no multiplier separates names");
      multiplier_ = 0x9E3779B97F4A7C15ull + 2 * tries;  // odd
      slots_.fill(empty);
      bool separate = true;
      for (std::size_t i = 0; i < N && separate; ++i) {
        std::uint8_t& slot = slots_[slot_of(keys_[i])];
        separate = slot == empty;
        slot = static_cast<std::uint8_t>(i);
      }
      if (separate) break;
    }
  }
  int find(std::string_view v) const {
    if (v.size() > 16) return -1;
    const key k = key_of(v);
    const std::size_t i = slots_[slot_of(k)];
    if (i != empty && keys_[i].size == k.size && keys_[i].head == k.head && keys_[i].tail == k.tail)
      return static_cast<int>(i);
    return -1;
  }

 private:
  static constexpr std::size_t slot_count = 64;
  static constexpr std::uint8_t empty = 0xff;
  struct key {
    std::size_t size = 0;
    std::uint64_t head = 0, tail = 0;
  };
  constexpr std::size_t slot_of(const key& k) const {
    const std::uint64_t mixed = k.head ^ (k.tail >> 7) ^ (k.tail << 29) ^ k.size;
    return static_cast<std::size_t>((mixed * multiplier_) >> 58);  // 6 bits: 64 slots
  }
  static constexpr key key_of(std::string_view v) {
    if (v.size() <= 8) {
      const std::uint64_t word = pack_word(v);
      return {v.size(), word, word};
    }
    return {v.size(), word_of_8(v.data()), word_of_8(v.data() + v.size() - 8)};
  }
  // pack_word of 8 bytes: one load where the byte order is pack_word's own.
  static constexpr std::uint64_t word_of_8(const char* p) {
    if (!std::is_constant_evaluated() && std::endian::native == std::endian::little) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      return word;
    }
    return pack_word({p, 8});
  }
  std::array<key, N> keys_{};
  std::array<std::uint8_t, slot_count> slots_{};
  std::uint64_t multiplier_ = 0;
};
inline constexpr name_index<topic_count> topic_index{topic_names};
inline constexpr name_index<channel_count> channel_index{channel_names};

// The bytes p[0, n), 1 <= n <= 8, in the low n bytes of a word (byte k at bits 8k..8k+7); the
// other bytes are copies of some of them. Reads no byte outside [p, p + n): two overlapping 4-byte
// loads, or three single bytes below 4.
inline std::uint64_t load_short_le(const char* p, std::size_t n) {
  if (n >= 4) {
    std::uint32_t low, high;
    std::memcpy(&low, p, 4);
    std::memcpy(&high, p + n - 4, 4);
    return std::uint64_t{low} | (std::uint64_t{high} << (8 * (n - 4)));
  }
  auto byte = [&](std::size_t k) {
    return std::uint64_t{static_cast<unsigned char>(p[k])} << (8 * k);
  };
  return byte(0) | byte(n / 2) | byte(n - 1);
}

// Digits read a word at a time (byte k of the word at bits 8k..8k+7), by parse_uint and
// parse_timestamp. `digits` has 0xFF in the bytes that must be digits.
//
// Every selected byte is an ASCII digit: its high nibble is 3, and still 3 after adding 6 (its low
// nibble is at most 9). A carry out of a byte (0xFA and up) only happens where the byte is
// already wrong.
constexpr bool digit_bytes(std::uint64_t w, std::uint64_t digits) {
  constexpr std::uint64_t high = 0xF0F0F0F0F0F0F0F0ull, threes = 0x3030303030303030ull,
                          sixes = 0x0606060606060606ull;
  return (w & high & digits) == (threes & digits) &&
         ((w + sixes) & high & digits) == (threes & digits);
}
// Byte k of the result is 10 * digit k + digit k+1: the two-digit number that starts at byte k
// (meaningful where both bytes are selected digits).
constexpr std::uint64_t digit_pairs(std::uint64_t w, std::uint64_t digits) {
  const std::uint64_t x = (w & digits) - (0x3030303030303030ull & digits);
  return x * 10 + (x >> 8);
}

// An integer: one or more ASCII digits, leading zeros allowed, value at most `max`.
inline bool parse_uint(std::string_view v, std::uint64_t max, std::uint64_t& out) {
  if (v.empty()) return false;
  std::uint64_t x = 0;
  if constexpr (std::endian::native == std::endian::little) {
    // Nearly every integer of the files has 1 to 8 digits: read as one word, checked and converted
    // without a loop whose exit (the number's length) the branch predictor cannot guess.
    if (v.size() <= 8) {
      const std::size_t n = v.size();
      // The digits moved to the top bytes, '0's below them: an 8-digit number with leading zeros.
      const std::uint64_t zeros = 0x3030303030303030ull >> 1 >> (8 * n - 1);
      const std::uint64_t w = (load_short_le(v.data(), n) << (8 * (8 - n))) | zeros;
      constexpr std::uint64_t all = ~std::uint64_t{0};
      if (!digit_bytes(w, all)) return false;
      // Byte 0 is the most significant digit. Pairs, then fours, then all eight.
      std::uint64_t d = digit_pairs(w, all) & 0x00FF00FF00FF00FFull;
      d = (d * 100 + (d >> 16)) & 0x0000FFFF0000FFFFull;
      x = (d * 10000 + (d >> 32)) & 0xFFFFFFFFull;
      if (x > max) return false;
      out = x;
      return true;
    }
  }
  if (v.size() <= 19) {  // below 10^19 < 2^64: no overflow, one comparison with max at the end
    for (const char c : v) {
      if (c < '0' || c > '9') return false;
      x = x * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (x > max) return false;
    out = x;
    return true;
  }
  for (const char c : v) {  // leading zeros, or a value near 2^64: checked digit by digit
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (d > max || x > (max - d) / 10) return false;  // x * 10 + d > max, without overflow
    x = x * 10 + d;
  }
  out = x;
  return true;
}

// Days from 1970-01-01 to the Gregorian date y-m-d (H. Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

constexpr bool is_leap(unsigned y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// `YYYY-MM-DDTHH:MM:SSZ` -> seconds since 1970-01-01T00:00:00Z (negative before 1970).
inline bool parse_timestamp(std::string_view v, std::int64_t& out) {
  if (v.size() != 20) return false;
  unsigned y, mo, d, h, mi, s;
  if constexpr (std::endian::native == std::endian::little) {
    // Every timestamp of the file goes through here: the 20 bytes are checked and read as three
    // words (bytes 0-7, 8-15, 16-19; byte k of a word is its bits 8k..8k+7). In each word, `digits`
    // marks the digit bytes and `fixed` the separators, which must equal `expected`.
    struct word_rule {
      std::uint64_t digits, fixed, expected;
    };
    auto check = [](std::uint64_t w, word_rule r) {
      return digit_bytes(w, r.digits) && (w & r.fixed) == r.expected;
    };
    std::uint64_t a, b;
    std::uint32_t c;
    std::memcpy(&a, v.data(), 8);       // YYYY-MM-
    std::memcpy(&b, v.data() + 8, 8);   // DDTHH:MM
    std::memcpy(&c, v.data() + 16, 4);  // :SSZ
    constexpr word_rule date{0x00FFFF00FFFFFFFFull, 0xFF0000FF00000000ull, 0x2D00002D00000000ull};
    constexpr word_rule time{0xFFFF00FFFF00FFFFull, 0x0000FF0000FF0000ull, 0x00003A0000540000ull};
    constexpr word_rule seconds{0x00FFFF00ull, 0xFF0000FFull, 0x5A00003Aull};
    if (!check(a, date) || !check(b, time) || !check(c, seconds)) return false;
    const std::uint64_t pa = digit_pairs(a, date.digits), pb = digit_pairs(b, time.digits),
                        pc = digit_pairs(c, seconds.digits);
    auto byte = [](std::uint64_t w, int k) { return static_cast<unsigned>((w >> (8 * k)) & 0xFF); };
    y = byte(pa, 0) * 100 + byte(pa, 2);
    mo = byte(pa, 5);
    d = byte(pb, 0);
    h = byte(pb, 3);
    mi = byte(pb, 6);
    s = byte(pc, 1);
  } else {
    if (v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[19] != 'Z')
      return false;
    static constexpr std::size_t at[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    unsigned digit[14];
    for (std::size_t k = 0; k < 14; ++k) {
      digit[k] = static_cast<unsigned>(static_cast<unsigned char>(v[at[k]])) - '0';
      if (digit[k] > 9) return false;
    }
    auto two = [&](std::size_t k) { return digit[k] * 10 + digit[k + 1]; };
    y = two(0) * 100 + two(2);
    mo = two(4);
    d = two(6);
    h = two(8);
    mi = two(10);
    s = two(12);
  }
  static constexpr unsigned month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || mo < 1 || mo > 12 || d < 1) return false;
  const unsigned dim = month_days[mo - 1] + (mo == 2 && is_leap(y) ? 1 : 0);
  if (d > dim || h > 23 || mi > 59 || s > 59) return false;
  out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  return true;
}

// The columns a file must have. A column's index in this list is its "role".
inline constexpr std::array<std::string_view, 10> interaction_columns = {
    "interaction_id", "customer_id",    "timestamp", "channel", "topic",
    "wait_seconds",   "handle_seconds", "resolved",  "csat",    "notes"};
enum interaction_col : std::uint8_t {
  ic_interaction_id,
  ic_customer_id,
  ic_timestamp,
  ic_channel,
  ic_topic,
  ic_wait_seconds,
  ic_handle_seconds,
  ic_resolved,
  ic_csat,
  ic_notes,
  ic_ignored = 0xff
};
inline constexpr std::array<std::string_view, 3> customer_columns = {"customer_id", "tenure_months",
                                                                     "churned"};
enum customer_col : std::uint8_t {
  cc_customer_id,
  cc_tenure_months,
  cc_churned,
  cc_ignored = 0xff
};

// A problem with a whole file: reported as `error: <path>: <reason>`, exit status 2.
struct file_error : std::runtime_error {
  std::string path;
  file_error(std::string p, const std::string& reason)
      : std::runtime_error(reason), path(std::move(p)) {}
};

// Maps each header field to a role (or 0xff, ignored). Throws file_error (with an empty path,
// filled in by the caller) when a required column is missing or named twice.
template <std::size_t N>
std::vector<std::uint8_t> map_header(const std::vector<std::string_view>& fields,
                                     const std::array<std::string_view, N>& required) {
  std::vector<std::uint8_t> roles(fields.size(), 0xff);
  std::array<bool, N> seen{};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const int r = find_name(required, fields[i]);
    if (r < 0) continue;
    if (seen[static_cast<std::size_t>(r)])
      throw file_error({}, "column \"" + std::string(fields[i]) + "\" appears twice in the header");
    seen[static_cast<std::size_t>(r)] = true;
    roles[i] = static_cast<std::uint8_t>(r);
  }
  for (std::size_t r = 0; r < N; ++r)
    if (!seen[r])
      throw file_error({},
                       "the header lacks the required column \"" + std::string(required[r]) + "\"");
  return roles;
}

// A value quoted for an error message: printable ASCII kept, other bytes as \xNN (the report must
// stay valid UTF-8 whatever the input), long values cut.
inline std::string quote_value(std::string_view v) {
  static constexpr std::size_t max_shown = 60;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < v.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (v.size() > max_shown) out += "...";
  out += "\"";
  return out;
}

inline std::string invalid_value(std::string_view column, std::string_view value,
                                 std::string_view rule) {
  std::string m = "invalid ";
  m += column;
  m += ": ";
  m += quote_value(value);
  m += " (expected ";
  m += rule;
  m += ")";
  return m;
}

}  // namespace customer_analysis
