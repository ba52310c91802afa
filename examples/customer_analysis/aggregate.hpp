// aggregate.hpp - what one pass over the records accumulates, and how partial results merge.
//
// What lives here:
//   * error_list: the first 100 invalid records by line number (merging keeps the smallest lines).
//   * interaction_handler: validates interactions.csv records and folds them into partials
//     (per topic x channel integer sums, pain-term counts, errors, and per-customer "events");
//     absorbs each window's partial into the totals and the per-customer state.
//   * customer_handler: validates customers.csv records; absorbs them in file order so that the
//     first valid row of a customer_id wins.
//
// Why everything is an integer: sums and counts of integers are exact and do not depend on the
// order in which chunks are combined, so the report is byte-identical for any --threads and
// --chunk-bytes. Divisions happen once, when the report is written.
//
// Why per-customer state is sharded: merging per-chunk hash maps up a reduction tree would touch
// every customer once per tree level. Instead a chunk only appends small events, bucketed by a hash
// of the customer_id into a fixed number of shards, and each window's events are applied with one
// task per shard: no locks, and no two tasks touch the same map.
#pragma once

#include <weft/weft.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "csv.hpp"
#include "schema.hpp"

namespace customer_analysis {

// Appends `later` to `earlier`, the way partials combine: taken whole when `earlier` is empty.
template <class T>
void append(std::vector<T>& earlier, std::vector<T>&& later) {
  if (earlier.empty()) {
    earlier = std::move(later);
  } else {
    earlier.insert(earlier.end(), std::make_move_iterator(later.begin()),
                   std::make_move_iterator(later.end()));
  }
}

struct error_entry {
  std::uint64_t line;
  std::string message;
};

// The first `keep` errors by line number. Lines are unique per record, so the result does not
// depend on the order in which errors arrive.
class error_list {
 public:
  static constexpr std::size_t keep = 100;

  // Worth building a message for this line?
  bool wants(std::uint64_t line) const {
    return entries_.size() < keep || line < entries_.back().line;
  }
  void add(std::uint64_t line, std::string message) {
    if (!wants(line)) return;
    auto at = std::upper_bound(entries_.begin(), entries_.end(), line,
                               [](std::uint64_t l, const error_entry& e) { return l < e.line; });
    entries_.insert(at, error_entry{line, std::move(message)});
    if (entries_.size() > keep) entries_.pop_back();
  }
  void merge(error_list&& other) {
    if (entries_.empty()) {
      entries_ = std::move(other.entries_);
      return;
    }
    for (auto& e : other.entries_) add(e.line, std::move(e.message));
  }
  const std::vector<error_entry>& entries() const { return entries_; }

 private:
  std::vector<error_entry> entries_;
};

// The message for a record that never reached the column rules.
inline std::string structural_message(record_problem p, std::size_t max_record_bytes) {
  if (p == record_problem::too_long)
    return "record longer than --max-record-bytes (" + std::to_string(max_record_bytes) + " bytes)";
  return "unterminated quote at end of file";
}

inline std::string field_count_message(std::size_t expected, std::size_t found) {
  return "wrong number of fields: expected " + std::to_string(expected) + ", found " +
         std::to_string(found);
}

// ---------------------------------------------------------------------------------------------
// interactions.csv

// Integer sums for one (topic, channel) pair; per-topic and per-channel figures are sums of these.
struct cell {
  std::uint64_t interactions = 0, resolved = 0, wait = 0, handle = 0, csat_responses = 0,
                csat_sum = 0, pain = 0;
  cell& operator+=(const cell& o) {
    interactions += o.interactions;
    resolved += o.resolved;
    wait += o.wait;
    handle += o.handle;
    csat_responses += o.csat_responses;
    csat_sum += o.csat_sum;
    pain += o.pain;
    return *this;
  }
};

// One valid interaction, as far as its customer is concerned.
struct customer_event {
  std::uint64_t customer_id;
  std::int64_t timestamp;
  std::uint32_t wait;
  std::uint8_t pain, unresolved, csat;  // csat 0: no rating
};

struct customer_state {
  std::uint64_t interactions = 0, pain = 0, unresolved = 0, csat_sum = 0, csat_responses = 0,
                wait_sum = 0;
  std::int64_t latest = 0;  // meaningful when interactions > 0
};

// Pain-term counts: an open-addressing table (linear probing, power-of-two size, hashes stored).
// It is looked up for every token of every pain interaction, so it avoids what std::unordered_map
// costs there: a division by a prime per lookup and a heap node per term. Tokens are short, so
// the term strings themselves stay in std::string's inline buffer.
class term_counts {
 public:
  static std::uint64_t hash(std::string_view s) {
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
    }
    return finish_hash(h, pack_word(s.substr(i)));
  }

  void add(std::string_view term, std::uint64_t n = 1) { add_hashed(term, hash(term), n); }
  // A term of at most 7 bytes and pack_word(term), which the caller already has.
  void add_short(std::string_view term, std::uint64_t packed) {
    add_hashed(term, finish_hash(0x9E3779B97F4A7C15ull ^ term.size(), packed), 1);
  }

  void merge(const term_counts& other) {
    for (const entry& e : other.slots_)
      if (e.count) add_hashed(e.term, e.hash, e.count);
  }
  std::size_t size() const { return size_; }
  template <class F>
  void for_each(F&& f) const {
    for (const entry& e : slots_)
      if (e.count) f(std::string_view(e.term), e.count);
  }

 private:
  // hash()'s last step; `tail` is pack_word of the bytes after the last full block of 8.
  static std::uint64_t finish_hash(std::uint64_t h, std::uint64_t tail) {
    h = (h ^ tail) * 0x94D049BB133111EBull;
    return h ^ (h >> 29);
  }
  struct entry {
    std::uint64_t hash = 0;
    std::uint64_t count = 0;  // 0: free slot
    std::string term;
  };
  void add_hashed(std::string_view term, std::uint64_t h, std::uint64_t n) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      entry& e = slots_[i];
      if (e.count == 0) {
        e.hash = h;
        e.count = n;
        e.term.assign(term);
        ++size_;
        return;
      }
      // A term has no zero byte, so one under 8 bytes is fixed by its packed word, and hash() is
      // one-to-one on packed words: for such terms equal hashes and lengths mean equal terms.
      if (e.hash == h && e.term.size() == term.size() && (term.size() < 8 || e.term == term)) {
        e.count += n;
        return;
      }
    }
  }
  void grow() {
    std::vector<entry> old(slots_.empty() ? 64 : slots_.size() * 2);
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (entry& e : old) {
      if (e.count == 0) continue;
      std::size_t i = static_cast<std::size_t>(e.hash) & mask;
      while (slots_[i].count) i = (i + 1) & mask;
      slots_[i] = std::move(e);
    }
  }
  std::vector<entry> slots_;
  std::size_t size_ = 0;
};

// Per-customer state of one shard: an open-addressing hash map (linear probing, power-of-two size).
// Applying events is the hottest loop after parsing and, with tens of thousands of customers, a
// cache miss per event: a flat table of one cache line per customer avoids the heap node and the
// pointer chase of std::unordered_map, and lets the caller prefetch the line of a later event.
class customer_map {
 public:
  // Folds one interaction into its customer's state, adding the customer on first sight.
  void apply(const customer_event& e) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    slot& s = probe(slots_, e.customer_id);
    customer_state& state = s.state;
    if (state.interactions == 0) {
      s.key = e.customer_id;
      ++size_;
      state.latest = e.timestamp;
    } else if (e.timestamp > state.latest) {
      state.latest = e.timestamp;
    }
    ++state.interactions;
    state.pain += e.pain;
    state.unresolved += e.unresolved;
    state.csat_sum += e.csat;
    state.csat_responses += e.csat != 0;
    state.wait_sum += e.wait;
  }
  // Starts loading the line that apply(key) will touch. Only a hint: a growth in between makes it
  // useless, never wrong.
  void prefetch(std::uint64_t key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[index_of(key, slots_.size() - 1)], 1);
  }
  const customer_state* find(std::uint64_t key) const {
    if (slots_.empty()) return nullptr;
    const slot& s = probe(slots_, key);
    return used(s) ? &s.state : nullptr;
  }
  std::size_t size() const { return size_; }
  template <class F>
  void for_each(F&& f) const {
    for (const slot& s : slots_)
      if (used(s)) f(s.key, s.state);
  }

 private:
  // A slot is in use once its customer has an interaction: apply() is the only way in, and it
  // counts one, so no separate flag is needed and a slot is exactly one cache line.
  struct alignas(64) slot {
    std::uint64_t key = 0;
    customer_state state;
  };
  static_assert(sizeof(slot) == 64);
  static bool used(const slot& s) { return s.state.interactions != 0; }
  static std::size_t index_of(std::uint64_t key, std::size_t mask) {
    const std::uint64_t h = (key ^ (key >> 32)) * 0xD6E8FEB86659FD93ull;
    return static_cast<std::size_t>(h ^ (h >> 32)) & mask;
  }
  template <class Slots>  // std::vector<slot>, const or not
  static auto probe(Slots& slots, std::uint64_t key) -> decltype(slots[0]) {
    const std::size_t mask = slots.size() - 1;
    std::size_t i = index_of(key, mask);
    while (used(slots[i]) && slots[i].key != key) i = (i + 1) & mask;
    return slots[i];
  }
  void grow() {
    std::vector<slot> bigger(slots_.empty() ? 64 : slots_.size() * 2);
    for (const slot& s : slots_)
      if (used(s)) probe(bigger, s.key) = s;
    slots_.swap(bigger);
  }
  std::vector<slot> slots_;
  std::size_t size_ = 0;
};

inline constexpr std::size_t customer_shards = 64;
inline std::size_t shard_of(std::uint64_t customer_id) {
  return static_cast<std::size_t>((customer_id * 0x9E3779B97F4A7C15ull) >> 58);  // 6 bits: 64
}

struct interaction_totals {
  std::uint64_t read = 0, valid = 0, invalid = 0;
  std::array<cell, topic_count * channel_count> cells{};  // [topic * channel_count + channel]
  bool any_valid = false;
  std::int64_t latest = 0;  // latest timestamp of any valid interaction
  term_counts terms;
  error_list errors;

  void merge(interaction_totals&& o) {
    read += o.read;
    valid += o.valid;
    invalid += o.invalid;
    for (std::size_t i = 0; i < cells.size(); ++i) cells[i] += o.cells[i];
    if (o.any_valid) {
      latest = any_valid ? std::max(latest, o.latest) : o.latest;
      any_valid = true;
    }
    if (terms.size() < o.terms.size()) std::swap(terms, o.terms);  // counts: order is irrelevant
    terms.merge(o.terms);
    errors.merge(std::move(o.errors));
  }
};

// Where a packed stop word sits in stop_words (below): a multiplicative hash to 7 bits.
constexpr std::size_t stop_word_slot(std::uint64_t packed) {
  return static_cast<std::size_t>((packed * 0x9E3779B97F4A7C15ull) >> 57);
}

// The pain-term stop list of the contract, packed (every stop word has 3 to 8 bytes) into a
// 128-slot open-addressing table: a token is looked up in one or two probes, where a search of
// the sorted list would take six unpredictable branches. 0 marks a free slot (no word packs to 0).
inline constexpr auto stop_words = [] {
  constexpr std::string_view words[] = {
      "the",   "and",   "for",   "with",  "that",  "this",  "was",      "were",   "are",  "has",
      "have",  "had",   "not",   "but",   "from",  "you",   "your",     "they",   "them", "their",
      "our",   "she",   "her",   "his",   "him",   "its",   "all",      "any",    "can",  "did",
      "does",  "into",  "out",   "about", "after", "again", "been",     "being",  "than", "then",
      "there", "these", "those", "very",  "will",  "would", "could",    "should", "just", "also",
      "what",  "when",  "which", "who",   "why",   "how",   "customer", "agent",  "call"};
  std::array<std::uint64_t, 128> table{};
  for (std::string_view w : words) {
    std::size_t i = stop_word_slot(pack_word(w));
    while (table[i] != 0) i = (i + 1) % table.size();
    table[i] = pack_word(w);
  }
  return table;
}();

// `packed` is a lower-case token of at most 8 bytes, packed.
inline bool is_stop_word(std::uint64_t packed) {
  for (std::size_t i = stop_word_slot(packed); stop_words[i] != 0; i = (i + 1) % stop_words.size())
    if (stop_words[i] == packed) return true;
  return false;
}

// Per byte: itself lower-cased if it is an ASCII letter or digit (a term byte), else 0 (a
// separator). One table lookup does the test and the lower-casing.
inline constexpr auto term_byte = [] {
  std::array<char, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = static_cast<char>(c);
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = static_cast<char>(c);
  for (int c = 'A'; c <= 'Z'; ++c)
    t[static_cast<std::size_t>(c)] = static_cast<char>(c - 'A' + 'a');
  return t;
}();

// Lower-cases ASCII letters, splits on every byte that is not an ASCII letter or digit, and counts
// the tokens of 3+ bytes that are not stop words. `token` is a reused buffer for long tokens. One
// byte at a time, through the term_byte table: the way for notes that count_pain_terms (below)
// does not take 16 bytes at a time, and the plain statement of what it computes.
inline void count_pain_terms_bytewise(std::string_view notes, term_counts& terms,
                                      std::string& token) {
  auto term = [](char c) { return term_byte[static_cast<unsigned char>(c)]; };
  const char* p = notes.data();
  const char* const end = p + notes.size();
  while (p < end) {
    while (p < end && term(*p) == 0) ++p;
    const char* const start = p;
    while (p < end && term(*p) != 0) ++p;
    const auto len = static_cast<std::size_t>(p - start);
    if (len < 3) continue;
    if (len <= 8) {  // most tokens: lower-cased on the stack, stop words checked packed
      char lower[8];
      std::uint64_t packed = 0;  // pack_word(t), built on the way
      for (std::size_t i = 0; i < len; ++i) {
        lower[i] = term(start[i]);
        packed |= std::uint64_t{static_cast<unsigned char>(lower[i])} << (8 * i);
      }
      const std::string_view t(lower, len);
      if (is_stop_word(packed)) continue;
      if (len < 8)
        terms.add_short(t, packed);
      else
        terms.add(t);
    } else {
      token.resize(len);
      for (std::size_t i = 0; i < len; ++i) token[i] = term(start[i]);
      terms.add(token);
    }
  }
}

// count_pain_terms_bytewise, 16 bytes at a time where SSE2 is there. Every pain interaction's notes
// go through here, about ten tokens each: byte loops spend a dozen instructions a byte and leave
// the branch predictor to guess where each token and each gap ends. Instead each block of 16
// bytes gives, in a few vector instructions, a bit per byte that is a letter or a digit; tokens
// are runs of set bits, found with countr_zero, and a short token is one 8-byte load, lower-cased
// by OR 0x20 (which leaves digits as they are) and masked to its length: its pack_word, for free.
//
// Every load reads the notes themselves, never a copy just written: a load that spans two recent
// stores waits for them to reach the cache (no store forwarding), and a copy made the function
// slower than the byte loops it replaced. Nor does any load read past the notes: the last block
// is the 16 bytes that end the notes (overlapping the one before), and a token near the end is
// read by load_short_le.
inline void count_pain_terms(std::string_view notes, term_counts& terms, std::string& token) {
#if defined(__SSE2__) && defined(__x86_64__)
  constexpr std::size_t most = 256;  // longer notes (rare) go byte by byte
  const std::size_t n = notes.size();
  const char* const d = notes.data();
  if (n < 16 || n > most) return count_pain_terms_bytewise(notes, terms, token);
  std::uint64_t words[most / 64 + 1] = {};  // bit i of words[i / 64]: byte i is a term byte
  const __m128i case_bit = _mm_set1_epi8(0x20);
  // Shifted so that the letters (after OR 0x20) and the digits are the lowest signed bytes: one
  // signed compare per range.
  const __m128i letter_shift = _mm_set1_epi8(static_cast<char>(128 - 'a'));
  const __m128i digit_shift = _mm_set1_epi8(static_cast<char>(128 - '0'));
  const __m128i letter_limit = _mm_set1_epi8(static_cast<char>(-128 + 26));
  const __m128i digit_limit = _mm_set1_epi8(static_cast<char>(-128 + 10));
  auto mark = [&](std::size_t at) {  // the term bytes of d[at, at + 16)
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + at));
    const __m128i letter =
        _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(raw, case_bit), letter_shift), letter_limit);
    const __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(raw, digit_shift), digit_limit);
    const std::uint64_t bits =
        static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_or_si128(letter, digit)));
    words[at / 64] |= bits << (at % 64);
    if (at % 64 > 48) words[at / 64 + 1] |= bits >> (64 - at % 64);
  };
  for (std::size_t at = 0; at + 16 <= n; at += 16) mark(at);
  if (n % 16 != 0) mark(n - 16);
  // Tokens: runs of set bits. Bits from n on are clear, so the search for the clear bit that ends
  // a run stops at n at the latest, inside `words`.
  constexpr std::uint64_t all = ~std::uint64_t{0};
  for (std::size_t at = 0;;) {
    std::size_t w = at / 64;
    std::uint64_t x = words[w] & (all << (at % 64));
    while (x == 0) {
      if (++w * 64 >= n) return;
      x = words[w];
    }
    const std::size_t start = 64 * w + static_cast<std::size_t>(std::countr_zero(x));
    std::uint64_t y = ~words[w] & (all << (start % 64));
    while (y == 0) y = ~words[++w];
    const std::size_t stop = 64 * w + static_cast<std::size_t>(std::countr_zero(y));
    at = stop;
    const std::size_t len = stop - start;
    if (len < 3) continue;
    if (len > 8) {  // a long token: lower-cased into `token` (letters and digits: OR 0x20)
      token.resize(len);
      for (std::size_t i = 0; i < len; ++i) token[i] = static_cast<char>(d[start + i] | 0x20);
      terms.add(token);
      continue;
    }
    std::uint64_t packed;
    if (start + 8 <= n)
      std::memcpy(&packed, d + start, 8);
    else
      packed = load_short_le(d + start, len);
    packed |= 0x2020202020202020ull;
    if (len < 8) packed &= (std::uint64_t{1} << (8 * len)) - 1;
    if (is_stop_word(packed)) continue;
    char lower[8];
    std::memcpy(lower, &packed, 8);
    if (len < 8)
      terms.add_short(std::string_view(lower, len), packed);
    else
      terms.add(std::string_view(lower, len));
  }
#else
  count_pain_terms_bytewise(notes, terms, token);
#endif
}

class interaction_handler {
 public:
  // The customer events of one chunk, by shard.
  using sharded_events = std::array<std::vector<customer_event>, customer_shards>;
  struct partial {
    interaction_totals totals;
    // One entry per chunk (at most): combining partials moves entries, never copies an event.
    std::vector<sharded_events> events;
  };

  interaction_handler(weft::thread_pool& pool, std::vector<std::uint8_t> roles,
                      std::size_t max_record_bytes)
      : roles_(std::move(roles)), max_record_bytes_(max_record_bytes), applying_(pool) {}

  partial identity() const { return {}; }

  void add(partial& out, const record_ref& r) const {
    interaction_totals& t = out.totals;
    ++t.read;
    auto fail = [&](auto&& make_message) {
      ++t.invalid;
      if (t.errors.wants(r.line)) t.errors.add(r.line, make_message());
    };
    if (r.problem != record_problem::none) {
      fail([&] { return structural_message(r.problem, max_record_bytes_); });
      return;
    }
    thread_local std::vector<std::string_view> split;
    thread_local std::string scratch;
    thread_local std::string token;
    std::span<const std::string_view> fields;
    if (record_fields(r, split, scratch, fields) != split_status::ok) {
      fail([] { return std::string("malformed quoting"); });
      return;
    }
    if (fields.size() != roles_.size()) {
      fail([&] { return field_count_message(roles_.size(), fields.size()); });
      return;
    }
    std::uint64_t customer_id = 0, value = 0;
    std::int64_t timestamp = 0;
    std::uint32_t wait = 0, handle = 0;
    std::uint8_t resolved = 0, csat = 0;
    int topic = 0, channel = 0;
    std::string_view notes;
    constexpr std::uint64_t max_u64 = ~std::uint64_t{0};
    constexpr std::uint64_t max_u32 = 0xffffffffu;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const std::string_view v = fields[i];
      const char* rule = nullptr;
      switch (roles_[i]) {
        case ic_interaction_id:
          if (!parse_uint(v, max_u64, value)) rule = "an integer up to 2^64-1";
          break;
        case ic_customer_id:
          if (!parse_uint(v, max_u64, customer_id)) rule = "an integer up to 2^64-1";
          break;
        case ic_timestamp:
          if (!parse_timestamp(v, timestamp)) rule = "a real date and time as YYYY-MM-DDTHH:MM:SSZ";
          break;
        case ic_channel:
          if ((channel = channel_index.find(v)) < 0) rule = "phone, email, chat, web or branch";
          break;
        case ic_topic:
          if ((topic = topic_index.find(v)) < 0) rule = "one of the ten topics";
          break;
        case ic_wait_seconds:
          if (!parse_uint(v, max_u32, value)) rule = "an integer up to 2^32-1";
          wait = static_cast<std::uint32_t>(value);
          break;
        case ic_handle_seconds:
          if (!parse_uint(v, max_u32, value)) rule = "an integer up to 2^32-1";
          handle = static_cast<std::uint32_t>(value);
          break;
        case ic_resolved:
          if (v == "0" || v == "1")
            resolved = v[0] == '1';
          else
            rule = "0 or 1";
          break;
        case ic_csat:
          if (v.empty())
            csat = 0;
          else if (parse_uint(v, 5, value) && value >= 1)
            csat = static_cast<std::uint8_t>(value);
          else
            rule = "empty or an integer from 1 to 5";
          break;
        case ic_notes:
          notes = v;
          break;
        default:
          break;  // a column the analysis does not use
      }
      if (rule != nullptr) {
        fail([&] { return invalid_value(interaction_columns[roles_[i]], v, rule); });
        return;
      }
    }

    ++t.valid;
    const bool pain = resolved == 0 || (csat != 0 && csat <= 2);
    cell& c = t.cells[static_cast<std::size_t>(topic) * channel_count +
                      static_cast<std::size_t>(channel)];
    ++c.interactions;
    c.resolved += resolved;
    c.wait += wait;
    c.handle += handle;
    c.csat_responses += csat != 0;
    c.csat_sum += csat;
    c.pain += pain;
    if (!t.any_valid || timestamp > t.latest) t.latest = timestamp;
    t.any_valid = true;
    if (pain) count_pain_terms(notes, t.terms, token);
    if (out.events.empty()) out.events.push_back(take_events());
    out.events.back()[shard_of(customer_id)].push_back(
        customer_event{customer_id, timestamp, wait, static_cast<std::uint8_t>(pain),
                       static_cast<std::uint8_t>(resolved == 0), csat});
  }

  partial combine(partial a, partial b) const {
    a.totals.merge(std::move(b.totals));
    append(a.events, std::move(b.events));
    return a;
  }

  // Once per window, on the reading thread. Totals merge at once (they are small). Customer events
  // are applied with one task per shard, in the background: the tasks run while the next window
  // is being counted and parsed, which fills the workers' idle moments at that window's barriers.
  // A window's events are applied only once the previous window's are (absorb and finish wait
  // for them first), so each shard still sees its events in file order.
  void absorb(partial&& p) {
    finish();
    totals_.merge(std::move(p.totals));
    applying_events_ = std::move(p.events);
    std::size_t events = 0;
    for (const sharded_events& chunk : applying_events_)
      for (const auto& v : chunk) events += v.size();
    if (events < 4096) {  // a small window (tiny --chunk-bytes): not worth waking the workers
      for (std::size_t s = 0; s < customer_shards; ++s) apply(s);
      recycle_events();
    } else {
      for (std::size_t s = 0; s < customer_shards; ++s) applying_.run([this, s] { apply(s); });
    }
  }

  // Waits until every window absorbed so far has reached the per-customer state.
  void finish() {
    applying_.wait();
    recycle_events();
  }

  const interaction_totals& totals() const { return totals_; }
  interaction_totals& totals() { return totals_; }
  const std::array<customer_map, customer_shards>& shards() const { return shards_; }

 private:
  // Applies the events of shard `shard_index` of the window being absorbed, chunk by chunk, and
  // empties their vectors (keeping their capacity) for the next windows.
  void apply(std::size_t shard_index) {
    customer_map& shard = shards_[shard_index];
    for (sharded_events& chunk : applying_events_) {
      std::vector<customer_event>& events = chunk[shard_index];
      // Each event is a cache miss in a table larger than the cache: the line of the event a few
      // places ahead is requested now, so that several misses are in flight at once.
      constexpr std::size_t ahead = 8;
      const std::size_t n = events.size();
      for (std::size_t i = 0; i < n; ++i) {
        if (i + ahead < n) shard.prefetch(events[i + ahead].customer_id);
        shard.apply(events[i]);
      }
      events.clear();
    }
  }

  // Event vectors go round: a chunk takes emptied ones, grown to about a chunk's events already,
  // rather than growing 64 new vectors from nothing (allocations, copies and fresh pages for the
  // kernel to zero, chunk after chunk). There are about as many as a window has chunks.
  sharded_events take_events() const {
    std::lock_guard lock(free_events_mutex_);
    if (free_events_.empty()) return {};
    sharded_events e = std::move(free_events_.back());
    free_events_.pop_back();
    return e;
  }
  void recycle_events() {
    std::lock_guard lock(free_events_mutex_);
    for (sharded_events& e : applying_events_) free_events_.push_back(std::move(e));
    applying_events_.clear();
  }

  std::vector<std::uint8_t> roles_;
  std::size_t max_record_bytes_;
  interaction_totals totals_;
  std::array<customer_map, customer_shards> shards_;
  std::vector<sharded_events> applying_events_;  // the window being applied, by chunk
  mutable std::mutex free_events_mutex_;
  mutable std::vector<sharded_events> free_events_;
  // Last: destroyed first, so that the destructor waits for the tasks before what they touch goes.
  weft::task_group applying_;
};

// ---------------------------------------------------------------------------------------------
// customers.csv

struct customer_info {
  std::uint32_t tenure_months;
  std::uint8_t churned;
};

struct customer_totals {
  std::uint64_t read = 0, valid = 0, invalid = 0;
  error_list errors;
  std::unordered_map<std::uint64_t, customer_info> population;  // the valid rows
};

inline std::string duplicate_customer_message(std::uint64_t customer_id) {
  return "invalid customer_id: duplicate " + std::to_string(customer_id) +
         " (already given by an earlier valid row)";
}

class customer_handler {
 public:
  struct row {
    std::uint64_t line, customer_id;
    customer_info info;
  };
  // A row whose customer_id is valid but a later column breaks its rule. It is invalid either way;
  // which column its message names depends on the rows before it: a duplicate customer_id comes
  // first in field order, so an earlier valid row of the same id makes it a duplicate, else the
  // later column is the offence (`message`).
  struct candidate {
    std::uint64_t line, customer_id;
    std::string message;
  };
  struct partial {
    std::uint64_t read = 0, invalid = 0;  // `invalid` counts the candidates too
    error_list errors;
    std::vector<row> rows;              // rows that follow the column rules, in file order
    std::vector<candidate> candidates;  // in file order; only those that may be reported
  };

  customer_handler(std::vector<std::uint8_t> roles, std::size_t max_record_bytes)
      : roles_(std::move(roles)), max_record_bytes_(max_record_bytes) {}

  partial identity() const { return {}; }

  void add(partial& out, const record_ref& r) const {
    ++out.read;
    auto fail = [&](auto&& make_message) {
      ++out.invalid;
      if (out.errors.wants(r.line)) out.errors.add(r.line, make_message());
    };
    if (r.problem != record_problem::none) {
      fail([&] { return structural_message(r.problem, max_record_bytes_); });
      return;
    }
    thread_local std::vector<std::string_view> split;
    thread_local std::string scratch;
    std::span<const std::string_view> fields;
    if (record_fields(r, split, scratch, fields) != split_status::ok) {
      fail([] { return std::string("malformed quoting"); });
      return;
    }
    if (fields.size() != roles_.size()) {
      fail([&] { return field_count_message(roles_.size(), fields.size()); });
      return;
    }
    row x{r.line, 0, {0, 0}};
    std::uint64_t value = 0;
    bool have_id = false;  // customer_id is valid and comes before field i
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const std::string_view v = fields[i];
      const char* rule = nullptr;
      switch (roles_[i]) {
        case cc_customer_id:
          if (!parse_uint(v, ~std::uint64_t{0}, x.customer_id))
            rule = "an integer up to 2^64-1";
          else
            have_id = true;
          break;
        case cc_tenure_months:
          if (!parse_uint(v, 0xffffffffu, value)) rule = "an integer up to 2^32-1";
          x.info.tenure_months = static_cast<std::uint32_t>(value);
          break;
        case cc_churned:
          if (v == "0" || v == "1")
            x.info.churned = v[0] == '1';
          else
            rule = "0 or 1";
          break;
        default:
          break;
      }
      if (rule != nullptr) {
        if (!have_id) {
          fail([&] { return invalid_value(customer_columns[roles_[i]], v, rule); });
          return;
        }
        ++out.invalid;
        // Records reach add() in file order, so every error and candidate of `out` lies before this
        // line: once they are 100, this line is not among the first 100 errors of the file.
        if (out.errors.entries().size() + out.candidates.size() < error_list::keep)
          out.candidates.push_back(
              {r.line, x.customer_id, invalid_value(customer_columns[roles_[i]], v, rule)});
        return;
      }
    }
    out.rows.push_back(x);
  }

  partial combine(partial a, partial b) const {
    a.read += b.read;
    a.invalid += b.invalid;
    a.errors.merge(std::move(b.errors));
    append(a.rows, std::move(b.rows));
    append(a.candidates, std::move(b.candidates));
    return a;
  }

  // Walks the rows and candidates of `p` together in file order: row(x) for each row,
  // candidate(c) for each candidate.
  template <class Row, class Candidate>
  static void in_file_order(partial& p, Row&& row_fn, Candidate&& candidate_fn) {
    auto c = p.candidates.begin();
    for (const row& x : p.rows) {
      for (; c != p.candidates.end() && c->line < x.line; ++c) candidate_fn(*c);
      row_fn(x);
    }
    for (; c != p.candidates.end(); ++c) candidate_fn(*c);
  }

  // In file order: a customer_id given by an earlier valid row makes the row invalid.
  void absorb(partial&& p) {
    totals_.read += p.read;
    totals_.invalid += p.invalid;
    totals_.errors.merge(std::move(p.errors));
    // One growth for the window's rows rather than a rehash of everything each time it doubles.
    totals_.population.reserve(totals_.population.size() + p.rows.size());
    in_file_order(
        p,
        [&](const row& x) {
          if (totals_.population.emplace(x.customer_id, x.info).second) {
            ++totals_.valid;
          } else {
            ++totals_.invalid;
            if (totals_.errors.wants(x.line))
              totals_.errors.add(x.line, duplicate_customer_message(x.customer_id));
          }
        },
        [&](candidate& c) {  // already counted as invalid
          if (!totals_.errors.wants(c.line)) return;
          totals_.errors.add(c.line, totals_.population.count(c.customer_id)
                                         ? duplicate_customer_message(c.customer_id)
                                         : std::move(c.message));
        });
  }

  customer_totals& totals() { return totals_; }

 private:
  std::vector<std::uint8_t> roles_;
  std::size_t max_record_bytes_;
  customer_totals totals_;
};

}  // namespace customer_analysis
