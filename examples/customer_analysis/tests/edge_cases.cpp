// edge_cases.cpp - hand-made input files (tests/data/) checked against hand-computed report fields.
//
// Each case is analysed with several pool sizes and chunk sizes (1 byte included, so that every
// record straddles chunks and windows); all reports must be byte-identical, and the fields below,
// worked out by hand from the contract, must hold. File-level errors are checked through the
// exception analyze() throws. Usage: edge_cases <tests/data directory>
#include <weft/weft.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "analyze.hpp"
#include <unistd.h>

namespace {

namespace ca = customer_analysis;
using ca::json;

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
  }
}

bool contains(const json& message, const char* word) {
  return message.get<std::string>().find(word) != std::string::npos;
}

// Analyses with every configuration; checks that the reports agree; returns the report.
json analyze_all(const std::string& interactions, const std::string& customers,
                 std::size_t max_record_bytes = std::size_t{1} << 20) {
  std::string first;
  json report;
  for (std::size_t threads : {1, 2, 3}) {
    weft::thread_pool pool{threads};
    // 0: the size chosen per file, as without --chunk-bytes.
    for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{13},
                              std::size_t{4096}, std::size_t{1} << 20, std::size_t{0}}) {
      for (bool read_ahead : {true, false}) {
        ca::analyze_options o;
        o.interactions = interactions;
        if (!customers.empty()) o.customers = customers;
        o.chunk_bytes = chunk;
        o.max_record_bytes = max_record_bytes;
        o.read_ahead = read_ahead;
        const json r = ca::analyze(pool, o);
        const std::string text = ca::report_text(r);
        if (first.empty()) {
          first = text;
          report = r;
        }
        check(text == first, interactions + ": same report with " + std::to_string(threads) +
                                 " threads, chunks of " + std::to_string(chunk));
      }
    }
  }
  return report;
}

std::vector<std::uint64_t> lines(const json& errors) {
  std::vector<std::uint64_t> v;
  for (const auto& e : errors) v.push_back(e["line"].get<std::uint64_t>());
  return v;
}

void mixed(const std::string& dir) {
  const json r = analyze_all(dir + "/mixed/interactions.csv", dir + "/mixed/customers.csv");
  // BOM, blank CRLF line before the header, columns in another order with a repeated extra one.
  check(r["rows"] == json{{"read", 11}, {"valid", 4}, {"invalid", 7}}, "mixed: rows");
  check(lines(r["errors"]) == std::vector<std::uint64_t>{7, 9, 10, 12, 13, 14, 15},
        "mixed: error lines (multi-line record and blank line counted as lines)");
  const auto& e = r["errors"];
  check(contains(e[0]["message"], "timestamp"), "mixed: 2023-02-29 is not a date");
  check(contains(e[1]["message"], "quot"), "mixed: malformed quoting");
  check(contains(e[2]["message"], "fields"), "mixed: field count");
  check(contains(e[3]["message"], "customer_id"), "mixed: customer_id above 2^64-1");
  check(contains(e[4]["message"], "csat"), "mixed: csat 6");
  check(contains(e[5]["message"], "channel") && !contains(e[5]["message"], "topic"),
        "mixed: the first offending column in field order");
  check(contains(e[6]["message"], "unterminated"), "mixed: unterminated quote at end of file");
  check(r["customers"] == 3, "mixed: distinct customers");

  const json& billing = r["by_topic"]["billing"];
  check(billing["interactions"] == 2, "mixed: billing interactions");
  check(billing["resolved_rate"] == 0.5, "mixed: billing resolved_rate");
  check(billing["mean_wait_seconds"] == (100.0 + 4294967295.0) / 2.0, "mixed: wait, leading zeros");
  check(billing["mean_handle_seconds"] == 150.5, "mixed: billing handle");
  check(billing["csat_responses"] == 1 && billing["mean_csat"] == 2.0, "mixed: billing csat");
  check(billing["pain_rate"] == 1.0, "mixed: billing pain");
  check(r["by_topic"]["claims"]["pain_rate"] == 0.0, "mixed: claims pain");
  check(r["by_topic"]["other"]["mean_csat"] == 3.0, "mixed: csat 03");
  check(r["by_topic"]["withdrawal"]["resolved_rate"].is_null(), "mixed: unseen topic is null");
  check(
      r["by_channel"]["web"]["interactions"] == 0 && r["by_channel"]["web"]["pain_rate"].is_null(),
      "mixed: unseen channel");
  check(r["by_channel"]["phone"]["mean_csat"].is_null(), "mixed: no rating, null mean");
  for (const auto& [topic, channel] : r["best_channel"].items())
    check(channel.is_null(), "mixed: best channel needs 30 interactions (" + topic + ")");
  check(r["pain_terms"] == json::parse(R"([{"term":"waited","count":2},{"term":"missing","count":1},
                                             {"term":"refund","count":1},{"term":"still","count":1}])"),
        "mixed: pain terms");

  check(r["customer_rows"] == json{{"read", 5}, {"valid", 3}, {"invalid", 2}},
        "mixed: customer rows");
  check(lines(r["customer_errors"]) == std::vector<std::uint64_t>{4, 5},
        "mixed: duplicate id, churned 2");
  const json& c = r["churn"];
  check(c["train_customers"] == 2 && c["holdout_customers"] == 1 && c["unlabelled_customers"] == 1,
        "mixed: churn populations");
  check(c["holdout_auc"].is_null(), "mixed: one-class holdout has no AUC");
  // Two train customers, mirror images after standardisation: the weights point from customer 7
  // (kept) to customer 8 (churned); customer 10 (holdout, no interactions) lies on 8's side.
  check(c["holdout_accuracy"] == 0.0, "mixed: holdout accuracy");
  check(c["at_risk"].size() == 2 && c["at_risk"][0]["customer_id"] == 10 &&
            c["at_risk"][1]["customer_id"] == 7,
        "mixed: at_risk order");
  check(c["at_risk"][0]["probability"].get<double>() > 0.5 &&
            c["at_risk"][1]["probability"].get<double>() < 0.5,
        "mixed: at_risk probabilities");
}

// A duplicate customer_id is an offence of the customer_id column: it is named before a later
// broken column, never before an earlier one, and an invalid row never makes later ones duplicates.
// The rows lie far apart so that, at -np 3, the valid row and its duplicates sit on different
// ranks.
void duplicate_ids(const std::string& dir) {
  const json r =
      analyze_all(dir + "/duplicate_ids/interactions.csv", dir + "/duplicate_ids/customers.csv");
  check(r["customer_rows"] == json{{"read", 24}, {"valid", 18}, {"invalid", 6}},
        "duplicate ids: customer rows");
  const json& e = r["customer_errors"];
  check(lines(e) == std::vector<std::uint64_t>{3, 4, 13, 14, 24, 25}, "duplicate ids: error lines");
  if (e.size() != 6) return;
  check(contains(e[0]["message"], "churned"), "duplicate ids: no earlier valid row of id 2");
  check(contains(e[1]["message"], "tenure_months"), "duplicate ids: tenure_months comes first");
  check(contains(e[2]["message"], "duplicate"), "duplicate ids: churned broken, id 1 given before");
  check(contains(e[3]["message"], "churned"), "duplicate ids: line 3 was invalid, not a first row");
  check(contains(e[4]["message"], "duplicate"), "duplicate ids: id 2 given on line 23");
  check(contains(e[5]["message"], "duplicate"), "duplicate ids: id 1 given on line 2");
}

void long_records(const std::string& dir) {
  const json r = analyze_all(dir + "/long_records/interactions.csv", "", 100);
  check(r["rows"] == json{{"read", 3}, {"valid", 2}, {"invalid", 1}}, "long: rows");
  check(lines(r["errors"]) == std::vector<std::uint64_t>{5},
        "long: error line after blank CRLF lines");
  check(contains(r["errors"][0]["message"], "longer"), "long: message");
  check(r["by_topic"]["tax_forms"]["pain_rate"] == 0.5, "long: pain rate");
  check(r["pain_terms"] == json::parse(R"([{"term":"lines","count":1},{"term":"two","count":1}])"),
        "long: pain terms across a line break");
  check(r["churn"].is_null() && r["customer_rows"].is_null() && r["customer_errors"].is_null(),
        "long: no customers.csv");
}

void file_errors(const std::string& dir) {
  weft::thread_pool pool{2};
  auto error_of = [&](const std::string& inter, const std::string& cust,
                      std::size_t max_record = std::size_t{1} << 20) -> std::string {
    ca::analyze_options o;
    o.interactions = inter;
    if (!cust.empty()) o.customers = cust;
    o.max_record_bytes = max_record;
    try {
      ca::analyze(pool, o);
    } catch (const ca::file_error& e) {
      return e.path + ": " + e.what();
    }
    return "";
  };
  const std::string missing = dir + "/no-such-file.csv";
  check(error_of(missing, "").rfind(missing + ": ", 0) == 0, "missing file, path as given");
  check(error_of(missing, missing + "2").rfind(missing + ": ", 0) == 0,
        "interactions checked first");
  check(error_of(dir + "/mixed/interactions.csv", missing).rfind(missing + ": ", 0) == 0,
        "missing customers.csv");
  check(error_of(dir + "/mixed/customers.csv", "").find("interaction_id") != std::string::npos,
        "missing required column");
  check(
      error_of(dir + "/long_records/interactions.csv", "", 50).find("header") != std::string::npos,
      "header longer than --max-record-bytes");
  check(error_of(dir, "").rfind(dir + ": ", 0) == 0, "a directory");
}

}  // namespace

// parse_timestamp (schema.hpp, three words at a time) agrees with a plain reading of the contract
// on valid timestamps and on near misses: every byte replaced, one to three at a time, by bytes
// next to the digits and separators or by any byte at all; lengths 19 to 21.
void timestamp_parser() {
  using namespace customer_analysis;
  auto plain = [](std::string_view v, std::int64_t& out) {
    if (v.size() != 20) return false;
    const std::string_view form = "dddd-dd-ddTdd:dd:ddZ";
    for (std::size_t i = 0; i < 20; ++i)
      if (form[i] == 'd' ? !(v[i] >= '0' && v[i] <= '9') : v[i] != form[i]) return false;
    auto num = [&](std::size_t at, std::size_t len) {
      unsigned x = 0;
      for (std::size_t i = at; i < at + len; ++i) x = x * 10 + static_cast<unsigned>(v[i] - '0');
      return x;
    };
    const unsigned y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
                   s = num(17, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    const unsigned days[] = {31, leap ? 29u : 28u, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d > days[mo - 1]) return false;
    out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return true;
  };
  std::uint64_t state = 7;
  auto next = [&](std::uint64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>((state >> 33) % bound);
  };
  const std::string near = "/0123456789:;-.,TtZz \x7f\x80\xf9\xfa\xff";
  bool same = true;
  std::size_t valid = 0;
  for (int round = 0; round < 300000 && same; ++round) {
    char text[32];
    std::snprintf(text, sizeof text, "%04zu-%02zu-%02zuT%02zu:%02zu:%02zuZ", next(10000), next(14),
                  next(33), next(25), next(61), next(61));
    std::string v(text);
    for (std::size_t k = next(4); k > 0; --k)
      v[next(20)] = next(2) ? near[next(near.size())] : static_cast<char>(next(256));
    if (next(16) == 0) v.resize(19 + next(3), '0');
    std::int64_t fast = -1, slow = -2;
    const bool a = parse_timestamp(v, fast), b = plain(v, slow);
    same = a == b && (!a || fast == slow);
    valid += b;
  }
  check(same, "timestamps: fast and plain parsers agree");
  check(valid > 10000, "timestamps: the random cases include valid ones");
}

// The one-pass record scanner (csv.hpp) finds the records a plain reading finds, with their line
// numbers, and offers fields exactly for the records whose fields need no unescaping: those fields
// equal split_record()'s. The cases sit at 64-byte block edges too (the filler shifts them).
void record_scanner() {
  using namespace customer_analysis;
  struct expected {
    std::string bytes;  // without the line break; empty: too long
    std::uint64_t line;
    bool split;  // fields offered
  };
  const std::string many_fields = [] {
    std::string r = "f";
    for (int i = 1; i < 64; ++i) r += ",f";
    return r;  // 64 fields
  }();
  for (std::size_t filler = 0; filler < 70; ++filler) {
    const std::string first(filler, 'x');  // one field of `filler` bytes (or a blank line)
    const std::string text = first + "\n" + "a,b,c\n" + "1,\"x,y\",\r\n" + "\"a\"\"b\",c\n" +
                             "\"ab\"c,d\n" + "\"multi\nline\",z\n" + "\r\n" + "\n" + many_fields +
                             "\n" + many_fields + ",f\n" + "\"\",\"\"\n" + std::string(250, 'L') +
                             "\n" + "q,\"" + std::string(70, ',') + "\"\n" + "end";
    std::vector<expected> want;
    if (!first.empty()) want.push_back({first, 1, true});
    want.push_back({"a,b,c", 2, true});
    want.push_back({"1,\"x,y\",", 3, true});
    want.push_back({"\"a\"\"b\",c", 4, false});
    want.push_back({"\"ab\"c,d", 5, false});
    want.push_back({"\"multi\nline\",z", 6, true});
    want.push_back({many_fields, 10, true});
    want.push_back({many_fields + ",f", 11, false});
    want.push_back({"\"\",\"\"", 12, true});
    want.push_back({"", 13, false});  // 250 bytes, over the limit of 200
    want.push_back({"q,\"" + std::string(70, ',') + "\"", 14, true});
    std::vector<expected> got;
    bool fields_right = true;
    const std::size_t stop = text.size() - 3;  // "end" has no line break: not scanned
    scan_records(text.data(), 0, stop, text.size(), 0, 200, [&](const record_ref& r) {
      got.push_back({std::string(r.bytes), r.line, !r.fields.empty()});
      if (r.problem != record_problem::none) {
        fields_right &= r.problem == record_problem::too_long && r.bytes.empty();
        return;
      }
      std::vector<std::string_view> split;
      std::string scratch;
      const bool ok = split_record(r.bytes, split, scratch) == split_status::ok;
      if (!r.fields.empty())
        fields_right &=
            ok && std::equal(split.begin(), split.end(), r.fields.begin(), r.fields.end());
    });
    bool same = got.size() == want.size();
    for (std::size_t i = 0; same && i < got.size(); ++i)
      same = got[i].bytes == want[i].bytes && got[i].line == want[i].line &&
             got[i].split == want[i].split;
    check(same,
          "scanner: records, lines and which get fields (filler " + std::to_string(filler) + ")");
    check(fields_right,
          "scanner: offered fields equal split_record's (filler " + std::to_string(filler) + ")");
  }
}

// Pain terms (aggregate.hpp, 64 bytes at a time) equal those of a plain byte-by-byte tokenizer,
// on random notes of every length up to a few stretches, with tokens across stretch boundaries.
void pain_term_tokenizer() {
  using namespace customer_analysis;
  auto sorted = [](const term_counts& t) {
    std::vector<std::pair<std::string, std::uint64_t>> v;
    t.for_each([&](std::string_view term, std::uint64_t n) { v.emplace_back(term, n); });
    std::sort(v.begin(), v.end());
    return v;
  };
  // The bytes next to each range of letters and digits (/ : @ [ ` {, and control bytes that
  // OR 0x20 would turn into digits) are in, as are bytes above 0x7f.
  const std::string alphabet =
      "aBcdEfghiJklmnopqrsTuvwxyzAZ0123456789 .,;-'\"!_@[`{/:\x10\x19\x1a\x7f\x80\xe1\xe9\xfa\xff";
  const std::string words[] = {"the ", "Customer ", "AGENT ",        "waited ",
                               "x",    "refund12 ", "unbelievably ", "ab "};
  std::uint64_t state = 99;
  auto next = [&](std::uint64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>((state >> 33) % bound);
  };
  bool same = true;
  for (int round = 0; round < 3000 && same; ++round) {
    std::string notes;
    const std::size_t length = next(260);
    while (notes.size() < length)
      notes += next(3) == 0 ? words[next(std::size(words))]
                            : std::string(1, alphabet[next(alphabet.size())]);
    term_counts fast, plain;
    std::string token;
    count_pain_terms(notes, fast, token);
    std::string current;
    auto finish = [&] {
      if (current.size() >= 3 && !(current.size() <= 8 && is_stop_word(pack_word(current))))
        plain.add(current);
      current.clear();
    };
    for (char c : notes) {
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (letter || (c >= '0' && c <= '9'))
        current += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
      else
        finish();
    }
    finish();
    same = sorted(fast) == sorted(plain);
  }
  check(same, "pain terms equal a plain tokenizer's on random notes");
}

// Channel and topic names are looked up by packed words (schema.hpp): every name is found, and a
// value that differs from a name in any one byte, or in length, is not.
void name_lookup() {
  using namespace customer_analysis;
  bool all = true;
  for (std::size_t i = 0; i < topic_count; ++i) {
    const std::string name(topic_names[i]);
    all = all && topic_index.find(name) == static_cast<int>(i);
    for (std::size_t k = 0; k < name.size(); ++k) {
      std::string near = name;
      near[k] = static_cast<char>(near[k] ^ 0x20);
      all = all && topic_index.find(near) == -1;
    }
    all = all && topic_index.find(name + "s") == -1 && topic_index.find(name.substr(1)) == -1;
  }
  for (std::size_t i = 0; i < channel_count; ++i)
    all = all && channel_index.find(channel_names[i]) == static_cast<int>(i) &&
          topic_index.find(channel_names[i]) == -1;
  all = all && channel_index.find("") == -1 && topic_index.find("account_access_17") == -1;
  check(all, "topic and channel names found exactly");
}

// Integers (schema.hpp's parse_uint, which reads short ones as a word) agree with a digit-by-digit
// reading: every length up to 20 digits, a non-digit at every position, leading zeros, and the
// limits. Each value sits in a heap block of its own exact size, so that a read past it is an
// error under AddressSanitizer.
void integer_parser() {
  using namespace customer_analysis;
  auto plain = [](std::string_view v, std::uint64_t max, std::uint64_t& out) {
    if (v.empty()) return false;
    std::uint64_t x = 0;
    for (const char c : v) {
      if (c < '0' || c > '9') return false;
      const auto d = static_cast<std::uint64_t>(c - '0');
      if (x > (max - std::min(d, max)) / 10 || d > max) return false;  // x * 10 + d > max
      x = x * 10 + d;
    }
    out = x;
    return true;
  };
  bool same = true;
  std::string failed;
  auto compare = [&](const std::string& text, std::uint64_t max) {
    const std::unique_ptr<char[]> exact(new char[text.size() + (text.empty() ? 1 : 0)]);
    std::memcpy(exact.get(), text.data(), text.size());
    const std::string_view v(exact.get(), text.size());
    std::uint64_t got = 7, want = 7;
    const bool ok = parse_uint(v, max, got), expected = plain(v, max, want);
    if (ok != expected || (ok && got != want)) {
      if (same) failed = "'" + text + "' with max " + std::to_string(max);
      same = false;
    }
  };
  const std::uint64_t maxima[] = {5, 0xffffffffu, ~std::uint64_t{0}};
  std::mt19937_64 digits(42);
  const char odd[] = {
      '/', ':', ' ', 'a', '-', '\0', static_cast<char>(0xFA), static_cast<char>(0xB9)};
  for (std::size_t n = 0; n <= 20; ++n) {
    for (int trial = 0; trial < 200; ++trial) {
      std::string text(n, '0');
      for (char& c : text) c = static_cast<char>('0' + digits() % 10);
      if (trial % 5 == 0 && n > 0) text[0] = '0';  // leading zeros
      for (const std::uint64_t max : maxima) compare(text, max);
      if (n > 0) {  // one byte that is not a digit, anywhere
        std::string bad = text;
        bad[digits() % n] = odd[digits() % sizeof odd];
        for (const std::uint64_t max : maxima) compare(bad, max);
      }
    }
  }
  for (const char* edge : {"5", "6", "0", "00000005", "000000006", "4294967295", "4294967296",
                           "99999999", "100000000", "18446744073709551615", "18446744073709551616",
                           "0000000000000000000000018446744073709551615"})
    for (const std::uint64_t max : maxima) compare(edge, max);
  check(same, "integers read as a digit-by-digit reading does" +
                  (failed.empty() ? std::string() : " (differs for " + failed + ")"));
}

// The churn model's arithmetic (gradient.hpp): e^z close to std::exp, the summed gradient equal
// to a plain sum, and the SSE2 and AVX2 paths bitwise equal.
void churn_arithmetic() {
  using namespace customer_analysis;
  double worst = 0;
  for (double z = -700; z <= 700; z += 0.0137) {
    vector_math::double2 v = {z, -z};
    vector_math::exp_in_place(v);
    worst = std::max({worst, std::abs(v[0] - std::exp(z)) / std::exp(z),
                      std::abs(v[1] - std::exp(-z)) / std::exp(-z)});
  }
  check(worst < 5e-16, "exp_in_place within 5e-16 of std::exp (" + std::to_string(worst) + ")");
  vector_math::double2 extremes = {-1e300, 1e300};
  vector_math::exp_in_place(extremes);
  check(
      extremes[0] >= 0 && extremes[0] < 1e-307 && extremes[1] > 1e307 && std::isfinite(extremes[1]),
      "exp_in_place clamps far arguments to finite values");
  check(churn_probability(churn_weights{{}, 1e6}, feature_row{}) == 1.0 &&
            churn_probability(churn_weights{{}, -1e6}, feature_row{}) < 1e-300,
        "churn_probability saturates without NaN");

  train_columns t;
  std::uint64_t state = 12345;
  auto uniform = [&] {  // in [-3, 3)
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) * 0x1p-53 * 6.0 - 3.0;
  };
  for (int i = 0; i < 1029; ++i) {
    feature_row row;
    for (double& v : row) v = uniform();
    t.push_back(row, i % 3 == 0 ? 1.0 : 0.0);
  }
  churn_weights m;
  for (std::size_t j = 0; j < feature_count; ++j) m.w[j] = 0.1 * static_cast<double>(j) - 0.3;
  m.b = 0.25;
  for (std::size_t last : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8},
                           std::size_t{9}, std::size_t{1029}}) {
    const churn_gradient g = chunk_gradient(m, t, 0, last);
    bool close = true;
    for (std::size_t j = 0; j <= feature_count; ++j) {
      double plain = 0;
      for (std::size_t i = 0; i < last; ++i) {
        feature_row row;
        for (std::size_t k = 0; k < feature_count; ++k) row[k] = t.x[k][i];
        double z = m.b;
        for (std::size_t k = 0; k < feature_count; ++k) z += m.w[k] * row[k];
        const double err = 1.0 / (1.0 + std::exp(-z)) - t.y[i];
        plain += j < feature_count ? err * row[j] : err;
      }
      close = close && std::abs(g.g[j] - plain) <= 1e-12 * (1.0 + std::abs(plain));
    }
    check(close, "chunk_gradient of " + std::to_string(last) + " customers equals the plain sum");
#if defined(__x86_64__)
    const churn_gradient a = vector_math::gradient_sse2(m, t, 0, last);
    if (__builtin_cpu_supports("avx2")) {
      const churn_gradient b = vector_math::gradient_avx2(m, t, 0, last);
      check(std::memcmp(&a, &b, sizeof a) == 0,
            "SSE2 and AVX2 gradients bitwise equal (" + std::to_string(last) + " customers)");
    }
    if (__builtin_cpu_supports("avx512f")) {
      const churn_gradient c = vector_math::gradient_avx512(m, t, 0, last);
      check(std::memcmp(&a, &c, sizeof a) == 0,
            "SSE2 and AVX-512 gradients bitwise equal (" + std::to_string(last) + " customers)");
    }
#endif
  }
}

// Windows of a file (reader.hpp): mapped or read, with or without read-ahead, from an offset that
// is not on a page boundary and up to a bound that is not either, every byte arrives once and in
// order. A file in /proc has size 0 and content: it must be read, not taken as empty.
void file_windows() {
  using namespace customer_analysis;
  char path[] = "/tmp/weft-edge-windows-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) {
    check(false, "a temporary file for the window test");
    return;
  }
  std::string content(700'001, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>((i * 7) % 251);
  const bool written =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ::close(fd);
  check(written, "the window test's file written");
  auto collect = [](const input_file& file, std::uint64_t offset, std::size_t window,
                    bool read_ahead, bool map, std::uint64_t end) {
    std::string got;
    for_each_window(
        file, offset, window, read_ahead, [&](const char* d, std::size_t n) { got.append(d, n); },
        end, map);
    return got;
  };
  bool same = true;
  {
    const input_file file(path);
    for (std::size_t window : {std::size_t{4096}, std::size_t{256} << 10,
                               (std::size_t{300} << 10) + 1, std::size_t{1} << 20})
      for (bool read_ahead : {true, false})
        for (bool map : {true, false}) {
          same = same &&
                 collect(file, 5, window, read_ahead, map, ~std::uint64_t{0}) == content.substr(5);
          same = same && collect(file, 4099, window, read_ahead, map, 400'003) ==
                             content.substr(4099, 400'003 - 4099);
        }
  }
  ::unlink(path);
  check(same, "file windows, mapped or read, give every byte once and in order");
  const input_file status("/proc/self/status");
  const std::string text = collect(status, 0, std::size_t{1} << 20, true, true, ~std::uint64_t{0});
  check(text.rfind("Name:", 0) == 0, "a file in /proc (size 0) is read, not taken as empty");
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: edge_cases <tests/data directory>\n");
    return 2;
  }
  const std::string dir = argv[1];
  try {
    mixed(dir);
    duplicate_ids(dir);
    long_records(dir);
    file_errors(dir);
    name_lookup();
    integer_parser();
    record_scanner();
    timestamp_parser();
    pain_term_tokenizer();
    churn_arithmetic();
    file_windows();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAILED: unexpected exception: %s\n", e.what());
    return 1;
  }
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all edge cases passed\n");
  return 0;
}
