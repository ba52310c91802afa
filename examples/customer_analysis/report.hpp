// report.hpp - the JSON report and the human-readable summary.
//
// What lives here: the definitions of the report's figures (rates and means are one division of
// exact integer sums, null over zero items; best channel; top pain terms), their JSON layout with
// the contract's key order (nlohmann::ordered_json keeps insertion order), and the summary table,
// which is printed from the JSON so that the two can never disagree.
//
// Numbers: nlohmann::json writes doubles in the shortest form that reads back to the same bits, and
// 64-bit unsigned integers exactly, which is what the contract asks for.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "aggregate.hpp"
#include "churn.hpp"
#include "schema.hpp"

namespace customer_analysis {

using json = nlohmann::ordered_json;

inline constexpr std::size_t pain_terms_shown = 20;
inline constexpr std::uint64_t best_channel_min_interactions = 30;

// double(S) / double(n), or null when n == 0.
inline json rate(std::uint64_t s, std::uint64_t n) {
  if (n == 0) return nullptr;
  return static_cast<double>(s) / static_cast<double>(n);
}

inline json cell_json(const cell& c) {
  json j;
  j["interactions"] = c.interactions;
  j["resolved_rate"] = rate(c.resolved, c.interactions);
  j["mean_wait_seconds"] = rate(c.wait, c.interactions);
  j["mean_handle_seconds"] = rate(c.handle, c.interactions);
  j["csat_responses"] = c.csat_responses;
  j["mean_csat"] = rate(c.csat_sum, c.csat_responses);
  j["pain_rate"] = rate(c.pain, c.interactions);
  return j;
}

inline json errors_json(const error_list& errors) {
  json a = json::array();
  for (const auto& e : errors.entries())
    a.push_back(json{{"line", e.line}, {"message", e.message}});
  return a;
}

// The pain terms by count descending, then term ascending (byte order).
inline json pain_terms_json(const term_counts& terms) {
  std::vector<std::pair<std::string_view, std::uint64_t>> v;
  v.reserve(terms.size());
  terms.for_each([&](std::string_view t, std::uint64_t n) { v.emplace_back(t, n); });
  const std::size_t k = std::min(pain_terms_shown, v.size());
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end(),
                    [](const auto& a, const auto& b) {
                      if (a.second != b.second) return a.second > b.second;
                      return a.first < b.first;
                    });
  json a = json::array();
  for (std::size_t i = 0; i < k; ++i)
    a.push_back(json{{"term", v[i].first}, {"count", v[i].second}});
  return a;
}

inline json build_report(const interaction_totals& it, std::uint64_t distinct_customers,
                         const customer_totals* customers, const churn_result* churn) {
  json r;
  r["rows"] = json{{"read", it.read}, {"valid", it.valid}, {"invalid", it.invalid}};
  r["errors"] = errors_json(it.errors);
  if (customers != nullptr) {
    r["customer_rows"] = json{
        {"read", customers->read}, {"valid", customers->valid}, {"invalid", customers->invalid}};
    r["customer_errors"] = errors_json(customers->errors);
  } else {
    r["customer_rows"] = nullptr;
    r["customer_errors"] = nullptr;
  }
  r["customers"] = distinct_customers;

  auto at = [&](std::size_t t, std::size_t c) -> const cell& {
    return it.cells[t * channel_count + c];
  };
  json by_topic = json::object();
  json best = json::object();
  for (std::size_t t = 0; t < topic_count; ++t) {
    cell sum;
    for (std::size_t c = 0; c < channel_count; ++c) sum += at(t, c);
    by_topic[std::string(topic_names[t])] = cell_json(sum);
    // Lowest pain rate among channels with enough interactions; ties go to the earlier channel
    // (strict < while walking the list in order). The rates compared are the report's doubles.
    std::optional<std::size_t> choice;
    double choice_rate = 0;
    for (std::size_t c = 0; c < channel_count; ++c) {
      const cell& x = at(t, c);
      if (x.interactions < best_channel_min_interactions) continue;
      const double pr = static_cast<double>(x.pain) / static_cast<double>(x.interactions);
      if (!choice || pr < choice_rate) {
        choice = c;
        choice_rate = pr;
      }
    }
    best[std::string(topic_names[t])] =
        choice ? json(std::string(channel_names[*choice])) : json(nullptr);
  }
  json by_channel = json::object();
  for (std::size_t c = 0; c < channel_count; ++c) {
    cell sum;
    for (std::size_t t = 0; t < topic_count; ++t) sum += at(t, c);
    by_channel[std::string(channel_names[c])] = cell_json(sum);
  }
  r["by_topic"] = std::move(by_topic);
  r["by_channel"] = std::move(by_channel);
  r["best_channel"] = std::move(best);
  r["pain_terms"] = pain_terms_json(it.terms);

  if (churn != nullptr) {
    json c;
    c["train_customers"] = churn->train_customers;
    c["holdout_customers"] = churn->holdout_customers;
    c["unlabelled_customers"] = churn->unlabelled_customers;
    c["holdout_auc"] = churn->holdout_auc ? json(*churn->holdout_auc) : json(nullptr);
    c["holdout_accuracy"] =
        churn->holdout_accuracy ? json(*churn->holdout_accuracy) : json(nullptr);
    json risk = json::array();
    for (const auto& [id, p] : churn->at_risk)
      risk.push_back(json{{"customer_id", id}, {"probability", p}});
    c["at_risk"] = std::move(risk);
    r["churn"] = std::move(c);
  } else {
    r["churn"] = nullptr;
  }
  return r;
}

// The report as written to a file or to stdout: two-space indentation and a final newline.
inline std::string report_text(const json& report) {
  return report.dump(2) + "\n";
}

// ---------------------------------------------------------------------------------------------
// The summary, printed from the report.

inline std::string fmt_num(const json& v, const char* format) {
  if (v.is_null()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v.get<double>());
  return buf;
}

inline std::string fmt_pct(const json& v) {
  if (v.is_null()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v.get<double>());
  return buf;
}

inline void print_summary(std::FILE* out, const json& r) {
  const auto& rows = r["rows"];
  std::fprintf(out, "interactions: %llu read, %llu valid, %llu invalid; %llu customers\n",
               static_cast<unsigned long long>(rows["read"].get<std::uint64_t>()),
               static_cast<unsigned long long>(rows["valid"].get<std::uint64_t>()),
               static_cast<unsigned long long>(rows["invalid"].get<std::uint64_t>()),
               static_cast<unsigned long long>(r["customers"].get<std::uint64_t>()));
  if (!r["customer_rows"].is_null()) {
    const auto& c = r["customer_rows"];
    std::fprintf(out, "customers.csv: %llu read, %llu valid, %llu invalid\n",
                 static_cast<unsigned long long>(c["read"].get<std::uint64_t>()),
                 static_cast<unsigned long long>(c["valid"].get<std::uint64_t>()),
                 static_cast<unsigned long long>(c["invalid"].get<std::uint64_t>()));
  }
  for (const auto& e : r["errors"]) {
    std::fprintf(out, "  first invalid row: line %llu: %s\n",
                 static_cast<unsigned long long>(e["line"].get<std::uint64_t>()),
                 e["message"].get<std::string>().c_str());
    break;
  }

  auto table = [&](const char* title, const json& group, bool with_best) {
    std::fprintf(out, "\n%-16s %12s %9s %9s %9s %9s %9s%s\n", title, "interactions", "pain",
                 "resolved", "wait s", "handle s", "csat", with_best ? "  best channel" : "");
    for (const auto& [name, s] : group.items()) {
      std::fprintf(out, "%-16s %12llu %9s %9s %9s %9s %9s", name.c_str(),
                   static_cast<unsigned long long>(s["interactions"].get<std::uint64_t>()),
                   fmt_pct(s["pain_rate"]).c_str(), fmt_pct(s["resolved_rate"]).c_str(),
                   fmt_num(s["mean_wait_seconds"], "%.0f").c_str(),
                   fmt_num(s["mean_handle_seconds"], "%.0f").c_str(),
                   fmt_num(s["mean_csat"], "%.2f").c_str());
      if (with_best) {
        const auto& b = r["best_channel"][name];
        std::fprintf(out, "  %s", b.is_null() ? "-" : b.get<std::string>().c_str());
      }
      std::fprintf(out, "\n");
    }
  };
  table("topic", r["by_topic"], true);
  table("channel", r["by_channel"], false);

  std::fprintf(out, "\npain terms:");
  for (const auto& t : r["pain_terms"])
    std::fprintf(out, " %s (%llu)", t["term"].get<std::string>().c_str(),
                 static_cast<unsigned long long>(t["count"].get<std::uint64_t>()));
  std::fprintf(out, "\n");

  if (!r["churn"].is_null()) {
    const auto& c = r["churn"];
    std::fprintf(
        out,
        "\nchurn model: %llu train, %llu holdout, %llu unlabelled; holdout AUC %s, accuracy %s\n",
        static_cast<unsigned long long>(c["train_customers"].get<std::uint64_t>()),
        static_cast<unsigned long long>(c["holdout_customers"].get<std::uint64_t>()),
        static_cast<unsigned long long>(c["unlabelled_customers"].get<std::uint64_t>()),
        fmt_num(c["holdout_auc"], "%.3f").c_str(), fmt_num(c["holdout_accuracy"], "%.3f").c_str());
    std::fprintf(out, "at-risk customers (not churned, highest churn probability):\n");
    for (const auto& a : c["at_risk"])
      std::fprintf(out, "  %20llu  %.3f\n",
                   static_cast<unsigned long long>(a["customer_id"].get<std::uint64_t>()),
                   a["probability"].get<double>());
  }
}

}  // namespace customer_analysis
