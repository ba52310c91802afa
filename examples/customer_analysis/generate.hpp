// generate.hpp - the `generate` command: realistic, deterministic test data.
//
// What lives here: a small PRNG (splitmix64), per-customer traits derived from (seed, customer),
// the rows of interactions.csv generated in fixed blocks, and customers.csv.
//
// Why the output does not depend on the thread count: rows are generated in blocks of a fixed size,
// each block with its own generator seeded from (seed, block index), and blocks are written in
// order. Which worker generates a block changes nothing. The standard <random> distributions are
// not used: their algorithms differ between standard libraries, so the same seed would give other
// files elsewhere. Everything here is integer arithmetic or plain double formulas.
//
// Why the analysis finds something: each customer has a hidden "frustration" that raises the pain
// rate of their interactions and their chance to churn; churners stop calling months before the end
// of the period (recency), and long-tenured customers churn less. Topics and channels have their
// own pain rates, with a few topic-specific channel strengths.
#pragma once

#include <weft/weft.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "schema.hpp"
#include <sys/stat.h>
#include <unistd.h>

namespace customer_analysis {

struct generate_options {
  std::uint64_t interactions = 0;
  std::uint64_t customers = 0;
  std::uint64_t seed = 1;
  double corrupt = 0.0005;
  std::string out_dir;
};

// splitmix64: tiny, fast and good enough for test data; also used to mix seeds.
struct rng {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  std::uint64_t below(std::uint64_t n) { return n ? next() % n : 0; }  // bias is irrelevant here
  bool chance(double p) { return uniform() < p; }
  template <std::size_t N>
  std::size_t weighted(const double (&w)[N]) {
    double total = 0;
    for (double x : w) total += x;
    double u = uniform() * total;
    for (std::size_t i = 0; i < N; ++i) {
      if (u < w[i]) return i;
      u -= w[i];
    }
    return N - 1;
  }
};
inline rng make_rng(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  rng r{seed ^ (stream * 0xD1B54A32D192ED03ull)};
  r.state ^= rng{index + 0x632BE59BD9B4E019ull}.next();
  r.next();
  return r;
}

inline constexpr std::int64_t gen_start = days_from_civil(2021, 1, 1) * 86400;
inline constexpr std::int64_t gen_end = days_from_civil(2024, 6, 30) * 86400 + 86399;
inline constexpr std::uint64_t first_customer_id = 1000001;

// Hidden traits of customer number `index`, a pure function of (seed, index).
struct customer_traits {
  std::uint64_t id;
  std::uint32_t tenure_months;
  double frustration;  // 0..1
  bool churned;
  std::int64_t first_seen, last_seen;
};

inline customer_traits traits_of(std::uint64_t seed, std::uint64_t index) {
  rng r = make_rng(seed, 1, index);
  customer_traits t{};
  t.id = first_customer_id + index;
  t.tenure_months = static_cast<std::uint32_t>(1 + r.below(240));
  const double u = r.uniform();
  t.frustration = u * u;
  const double logit = -1.6 + 4.0 * t.frustration - 0.008 * t.tenure_months;
  t.churned = r.chance(1.0 / (1.0 + std::exp(-logit)));
  const std::int64_t day = 86400;
  t.last_seen = t.churned ? gen_end - static_cast<std::int64_t>(45 + r.below(600)) * day
                          : gen_end - static_cast<std::int64_t>(r.below(40)) * day;
  const std::int64_t joined = gen_end - static_cast<std::int64_t>(t.tenure_months) * 30 * day;
  t.first_seen = std::max(gen_start, std::min(joined, t.last_seen - 30 * day));
  return t;
}

inline void append_timestamp(std::string& out, std::int64_t secs) {
  // civil_from_days (H. Hinnant)
  std::int64_t z = secs / 86400;
  const std::int64_t sod = secs % 86400;
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y0 = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = y0 + (m <= 2);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(y), m, d,
                static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                static_cast<int>(sod % 60));
  out += buf;
}

// Topic and channel mix, pain rates, waits.
inline constexpr double topic_weight[topic_count] = {18, 12, 10, 8, 12, 6, 14, 8, 4, 8};
inline constexpr double topic_pain[topic_count] = {0.22, 0.32, 0.28, 0.12, 0.10,
                                                   0.16, 0.38, 0.18, 0.65, 0.08};
inline constexpr double channel_weight[channel_count] = {40, 20, 20, 12, 8};
inline constexpr double channel_pain[channel_count] = {0.0, 0.08, -0.03, 0.10, -0.06};
inline constexpr double channel_wait[channel_count] = {240, 14400, 90, 30, 600};
inline constexpr double channel_handle[channel_count] = {420, 300, 600, 120, 900};

// A channel that is especially good (or bad) for a topic, so best_channel is not always the same.
inline double topic_channel_pain(std::size_t topic, std::size_t channel) {
  if (topic == 6 && channel == 2) return -0.20;  // account_access by chat
  if (topic == 1 && channel == 4) return -0.15;  // claims at a branch
  if (topic == 7 && channel == 3) return -0.12;  // tax_forms on the web
  if (topic == 8 && channel == 0) return -0.25;  // complaints by phone
  return 0.0;
}

inline const std::vector<std::vector<std::string_view>>& topic_phrases() {
  static const std::vector<std::vector<std::string_view>> p = {
      {"asked about the premium increase", "invoice did not match the statement",
       "wants to change the payment date", "autopay set up, confirmed by e-mail"},
      {"claim status update", "sent the documents for the claim", "claim paid, thanked us",
       "asked why the claim needs a \"physician statement\""},
      {"partial withdrawal request", "questions on surrender charges", "needs funds by Friday",
       "RMD withdrawal for this year"},
      {"asked about the renewal rate", "compared our rate with a bank CD",
       "rate lock questions, 5-year option"},
      {"address update", "change of ownership form", "add a long-term care rider",
       "switch to monthly premiums"},
      {"update beneficiary after marriage", "spousal consent form",
       "contingent beneficiary question"},
      {"password reset", "locked out of the portal", "two-factor code never arrived",
       "new e-mail address for the login"},
      {"1099-R copy requested", "asked about tax withholding", "form 5498 question"},
      {"escalated to a supervisor", "unhappy with the response time",
       "says the letter was \"misleading\""},
      {"general question", "wanted a callback", "asked for the mailing address"}};
  return p;
}
inline constexpr std::string_view pain_phrases[] = {"still waiting on the refund",
                                                    "transferred three times",
                                                    "long hold time",
                                                    "nobody called back",
                                                    "form rejected again",
                                                    "portal error again, cannot log in",
                                                    "told it is \"in process\" for weeks",
                                                    "frustrated, threatens to cancel",
                                                    "no resolution, will call again",
                                                    "payment missing",
                                                    "wrong amount withheld, again"};
inline constexpr std::string_view calm_phrases[] = {"resolved on first contact", "satisfied",
                                                    "thanks, all clear", "no further action"};

// Appends `v` as a quoted CSV field ("" for each ").
inline void append_quoted(std::string& out, std::string_view v) {
  out.push_back('"');
  for (const char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

// One interactions.csv row (with its LF), maybe deliberately broken.
inline void append_interaction(std::string& out, std::uint64_t row, rng& r,
                               const generate_options& o) {
  // A few interactions belong to customers missing from customers.csv (unlabelled).
  const std::uint64_t pool_size = o.customers + (o.customers + 99) / 100;
  const double skew = r.uniform();
  const std::uint64_t index =
      std::min(pool_size - 1,
               static_cast<std::uint64_t>(std::pow(skew, 1.4) * static_cast<double>(pool_size)));
  const customer_traits c = traits_of(o.seed, index);

  const std::size_t topic = r.weighted(topic_weight);
  const std::size_t channel = r.weighted(channel_weight);
  const std::int64_t span = std::max<std::int64_t>(1, c.last_seen - c.first_seen);
  const std::int64_t ts =
      c.first_seen + static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(span)));
  double p_pain = topic_pain[topic] + channel_pain[channel] + topic_channel_pain(topic, channel) +
                  0.45 * c.frustration;
  p_pain = std::clamp(p_pain, 0.02, 0.95);
  const bool pain = r.chance(p_pain);
  bool resolved = true;
  int csat = 0;
  const bool rated = r.chance(0.55);
  if (pain) {
    resolved = !r.chance(0.6);
    if (resolved)
      csat = 1 + static_cast<int>(r.below(2));  // resolved but unhappy
    else if (rated)
      csat = 1 + static_cast<int>(r.below(3));
  } else if (rated) {
    csat = 3 + static_cast<int>(r.below(3));
  }
  const double wait = channel_wait[channel] * -std::log(1.0 - r.uniform()) * (pain ? 1.8 : 1.0);
  const double handle = channel_handle[channel] * (0.3 + r.uniform() * 1.4);

  std::string notes;
  const auto& phrases = topic_phrases()[topic];
  notes += phrases[r.below(phrases.size())];
  if (pain) {
    const std::size_t k = 1 + r.below(2);
    for (std::size_t i = 0; i < k; ++i) {
      notes += r.chance(0.03) ? "\n" : (r.chance(0.5) ? "; " : ", ");
      notes += pain_phrases[r.below(std::size(pain_phrases))];
    }
  } else if (r.chance(0.5)) {
    notes += ", ";
    notes += calm_phrases[r.below(std::size(calm_phrases))];
  }

  // The fields, as text, so that a corrupted row can replace one of them.
  std::string f[10];
  f[0] = std::to_string(row + 1);
  f[1] = std::to_string(c.id);
  append_timestamp(f[2], ts);
  f[3] = channel_names[channel];
  f[4] = topic_names[topic];
  f[5] = std::to_string(static_cast<std::uint64_t>(std::min(wait, 4e9)));
  f[6] = std::to_string(static_cast<std::uint64_t>(handle));
  f[7] = resolved ? "1" : "0";
  f[8] = csat ? std::to_string(csat) : "";
  append_quoted(f[9], notes);
  std::size_t fields = 10;

  if (o.corrupt > 0 && r.chance(o.corrupt)) {
    // Every corruption keeps the quote count even, so it breaks only its own row.
    switch (r.below(10)) {
      case 0:
        f[2] = "2023-02-30T10:00:00Z";
        break;  // no such date
      case 1:
        f[2] = "2023-13-01T08:15:00Z";
        break;  // no such month
      case 2:
        f[3] = "fax";
        break;  // unknown channel
      case 3:
        fields = 9;
        break;  // a field missing
      case 4:
        f[3] = "ph\"on\"e";
        break;  // quote inside an unquoted field
      case 5:
        f[4] = "\"claims\"x";
        break;  // bytes after a closing quote
      case 6:
        f[8] = "7";
        break;  // csat out of range
      case 7:
        f[7] = "yes";
        break;  // not 0 or 1
      case 8:
        f[5] = "-5";
        break;  // not an integer
      default:
        f[1] = "99999999999999999999";
        break;  // more than 2^64-1
    }
  }
  for (std::size_t i = 0; i < fields; ++i) {
    if (i) out.push_back(',');
    out += f[i];
  }
  out.push_back('\n');
}

inline void append_customer(std::string& out, std::uint64_t index, const generate_options& o) {
  const customer_traits c = traits_of(o.seed, index);
  rng r = make_rng(o.seed, 2, index);
  std::string tenure = std::to_string(c.tenure_months);
  std::string churned = c.churned ? "1" : "0";
  if (o.corrupt > 0 && r.chance(o.corrupt)) {
    switch (r.below(3)) {
      case 0:
        tenure = "ten";
        break;
      case 1:
        churned = "2";
        break;
      default:
        churned += ",extra";
        break;  // one field too many
    }
  }
  out += std::to_string(c.id);
  out.push_back(',');
  out += tenure;
  out.push_back(',');
  out += churned;
  out.push_back('\n');
}

// Writes a file through a temporary name and rename(), producing its contents block by block:
// batches of blocks are generated in parallel, then written in order.
template <class Block>
void write_blocks(weft::thread_pool& pool, const std::string& path, std::string_view header,
                  std::uint64_t blocks, Block&& make_block) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw file_error(path, std::strerror(errno));
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  const std::uint64_t batch = 4 * pool.size();
  for (std::uint64_t b0 = 0; ok && b0 < blocks; b0 += batch) {
    std::vector<std::uint64_t> ids;
    for (std::uint64_t b = b0; b < std::min(blocks, b0 + batch); ++b) ids.push_back(b);
    const std::vector<std::string> texts = weft::parallel_map(pool, ids, make_block);
    for (const std::string& t : texts) ok = ok && std::fwrite(t.data(), 1, t.size(), f) == t.size();
  }
  const int err = ok ? 0 : errno;
  if (std::fclose(f) != 0 || !ok) {
    std::remove(tmp.c_str());
    throw file_error(path, std::strerror(err ? err : EIO));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw file_error(path, std::strerror(e));
  }
}

inline void generate(weft::thread_pool& pool, const generate_options& o) {
  if (::mkdir(o.out_dir.c_str(), 0777) != 0 && errno != EEXIST)
    throw file_error(o.out_dir, std::strerror(errno));
  constexpr std::uint64_t block_rows = 4096;
  const std::string dir =
      o.out_dir.empty() || o.out_dir.back() == '/' ? o.out_dir : o.out_dir + "/";

  write_blocks(pool, dir + "interactions.csv",
               "interaction_id,customer_id,timestamp,channel,topic,wait_seconds,handle_seconds,"
               "resolved,csat,notes\n",
               (o.interactions + block_rows - 1) / block_rows, [&](std::uint64_t block) {
                 std::string text;
                 text.reserve(block_rows * 160);
                 rng r = make_rng(o.seed, 3, block);
                 const std::uint64_t end = std::min(o.interactions, (block + 1) * block_rows);
                 for (std::uint64_t row = block * block_rows; row < end; ++row)
                   append_interaction(text, row, r, o);
                 return text;
               });
  write_blocks(pool, dir + "customers.csv", "customer_id,tenure_months,churned\n",
               (o.customers + block_rows - 1) / block_rows, [&](std::uint64_t block) {
                 std::string text;
                 const std::uint64_t end = std::min(o.customers, (block + 1) * block_rows);
                 for (std::uint64_t i = block * block_rows; i < end; ++i)
                   append_customer(text, i, o);
                 return text;
               });
}

}  // namespace customer_analysis
