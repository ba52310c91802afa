// churn.hpp - the churn model: features per customer, logistic regression, holdout evaluation.
//
// What lives here: feature extraction from the per-customer state, standardisation with the train
// set's mean and population standard deviation, 300 epochs of full-batch gradient descent, and the
// holdout AUC / accuracy and the at-risk list, all exactly as the contract defines them.
//
// Why the gradient is deterministic: customers are sorted by customer_id, and each epoch's gradient
// is a weft::parallel_reduce over fixed-size chunks of that order. weft guarantees the same
// combination tree for the same grain whatever the pool size, so the floating-point sums - and the
// whole model - are bitwise the same for any --threads.
#pragma once

#include <weft/weft.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "aggregate.hpp"
#include "gradient.hpp"

namespace customer_analysis {

inline constexpr int churn_epochs = 300;
inline constexpr double churn_learning_rate = 0.5;
inline constexpr double churn_l2 = 1e-4;
inline constexpr std::size_t churn_at_risk = 20;

struct churn_result {
  std::uint64_t train_customers = 0, holdout_customers = 0, unlabelled_customers = 0;
  std::optional<double> holdout_auc, holdout_accuracy;
  std::vector<std::pair<std::uint64_t, double>> at_risk;  // (customer_id, probability)
};

using customer_shard_maps = std::array<customer_map, customer_shards>;

// The pieces below are shared with the MPI version (mpi_churn.hpp), which must compute the very
// same floating-point operations in the very same order.

// The features of one customer of the population, in the contract's order.
inline feature_row churn_features(const customer_state& s, const customer_info& info,
                                  bool any_interaction, std::int64_t latest_timestamp) {
  auto ratio = [](std::uint64_t a, std::uint64_t b) {
    return static_cast<double>(a) / static_cast<double>(b);
  };
  return {static_cast<double>(s.interactions),
          static_cast<double>(s.pain),
          static_cast<double>(s.unresolved),
          s.csat_responses ? ratio(s.csat_sum, s.csat_responses) : 3.0,
          s.interactions && any_interaction
              ? static_cast<double>(latest_timestamp - s.latest) / 86400.0
              : 365.0,
          static_cast<double>(info.tenure_months),
          s.interactions ? ratio(s.wait_sum, s.interactions) : 0.0};
}

// The gradient's reduction: customers (train set, id order) in chunks of churn_grain, each chunk
// summed by chunk_gradient, chunks combined in weft::parallel_reduce's tree.
inline constexpr std::size_t churn_grain = 1024;

inline churn_gradient combine_gradients(churn_gradient a, const churn_gradient& c) {
  for (std::size_t j = 0; j <= feature_count; ++j) a.g[j] += c.g[j];
  return a;
}

// One step of gradient descent from the summed gradient over `train_count` customers.
inline void apply_gradient(churn_weights& m, const churn_gradient& sum, std::size_t train_count) {
  const double count = static_cast<double>(train_count);
  for (std::size_t j = 0; j < feature_count; ++j)
    m.w[j] -= churn_learning_rate * (sum.g[j] / count + churn_l2 * m.w[j]);
  m.b -= churn_learning_rate * (sum.g[feature_count] / count);
}

// Mann-Whitney AUC: the probability that a random churner scores above a random non-churner,
// ties counting one half; computed from average ranks.
inline std::optional<double> auc(std::vector<std::pair<double, bool>> scored) {
  std::uint64_t pos = 0, neg = 0;
  for (const auto& s : scored) (s.second ? pos : neg) += 1;
  if (pos == 0 || neg == 0) return std::nullopt;
  std::sort(scored.begin(), scored.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum = 0;  // of the positives, ranks from 1, ties averaged
  for (std::size_t i = 0; i < scored.size();) {
    std::size_t j = i;
    while (j < scored.size() && scored[j].first == scored[i].first) ++j;
    const double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (std::size_t k = i; k < j; ++k)
      if (scored[k].second) rank_sum += avg_rank;
    i = j;
  }
  const double p = static_cast<double>(pos), n = static_cast<double>(neg);
  return (rank_sum - p * (p + 1) / 2) / (p * n);
}

inline churn_result run_churn(weft::thread_pool& pool,
                              const std::unordered_map<std::uint64_t, customer_info>& population,
                              const customer_shard_maps& shards, bool any_interaction,
                              std::int64_t latest_timestamp) {
  churn_result r;
  // The steps below but the sort run in parallel: each is a loop of independent items (or an
  // integer count), so their results do not depend on the pool size. On 100,000 customers they
  // take as long as a third of the training if run on one thread.
  constexpr std::size_t grain = 4096;
  r.unlabelled_customers = weft::parallel_reduce(
      pool, weft::chunked(std::size_t{0}, shards.size(), 1), std::uint64_t{0},
      [&](weft::chunk<std::size_t> c) {
        std::uint64_t absent = 0;
        shards[c.first()].for_each([&](std::uint64_t id, const customer_state&) {
          absent += population.find(id) == population.end();
        });
        return absent;
      },
      std::plus<>{});

  // The population in customer_id order: every sum below runs in this order.
  std::vector<std::pair<std::uint64_t, customer_info>> people(population.begin(), population.end());
  std::sort(people.begin(), people.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::size_t n = people.size();

  // Filled in parallel, each page first touched by the thread that fills it.
  fill_later_vector<feature_row> x(n);
  fill_later_vector<double> y(n);
  weft::parallel_for(pool, weft::chunked(std::size_t{0}, n, grain),
                     [&](weft::chunk<std::size_t> c) {
                       for (std::size_t i : c) {
                         const auto& [id, info] = people[i];
                         customer_state s;
                         if (const customer_state* found = shards[shard_of(id)].find(id))
                           s = *found;
                         x[i] = churn_features(s, info, any_interaction, latest_timestamp);
                         y[i] = info.churned;
                       }
                     });
  std::vector<std::size_t> train, holdout;
  train.reserve(n);
  for (std::size_t i = 0; i < n; ++i) (people[i].first % 5 == 0 ? holdout : train).push_back(i);
  r.train_customers = train.size();
  r.holdout_customers = holdout.size();

  // Standardise with the train set's mean and population standard deviation; a feature that is
  // constant over the train set (or an empty train set) becomes 0 for everyone. Each feature's
  // sums run over the train set in order, one feature per task.
  std::array<double, feature_count> mean{}, sd{};
  std::array<bool, feature_count> constant{};
  weft::parallel_for(pool, weft::chunked(std::size_t{0}, feature_count, 1),
                     [&](weft::chunk<std::size_t> c) {
                       const std::size_t j = c.first();
                       constant[j] = true;
                       double sum = 0;
                       for (std::size_t i : train) {
                         sum += x[i][j];
                         if (x[i][j] != x[train.front()][j]) constant[j] = false;
                       }
                       if (train.empty() || constant[j]) return;
                       mean[j] = sum / static_cast<double>(train.size());
                       double sq = 0;
                       for (std::size_t i : train) sq += (x[i][j] - mean[j]) * (x[i][j] - mean[j]);
                       sd[j] = std::sqrt(sq / static_cast<double>(train.size()));
                     });
  weft::parallel_for(
      pool, weft::chunked(std::size_t{0}, n, grain), [&](weft::chunk<std::size_t> c) {
        for (std::size_t i : c)
          for (std::size_t j = 0; j < feature_count; ++j)
            x[i][j] = train.empty() || constant[j] ? 0.0 : (x[i][j] - mean[j]) / sd[j];
      });

  train_columns columns(train.size());
  weft::parallel_for(pool, weft::chunked(std::size_t{0}, train.size(), grain),
                     [&](weft::chunk<std::size_t> c) {
                       for (std::size_t k : c) columns.set(k, x[train[k]], y[train[k]]);
                     });

  // Full-batch gradient descent. The gradient sum is a deterministic parallel reduction.
  churn_weights m;
  if (!train.empty()) {
    for (int epoch = 0; epoch < churn_epochs; ++epoch) {
      const churn_gradient sum = weft::parallel_reduce(
          pool, weft::chunked(std::size_t{0}, train.size(), churn_grain), churn_gradient{},
          [&](weft::chunk<std::size_t> c) {
            return chunk_gradient(m, columns, c.first(), c.last());
          },
          combine_gradients);
      apply_gradient(m, sum, train.size());
    }
  }

  fill_later_vector<double> p(n);
  weft::parallel_for(pool, weft::chunked(std::size_t{0}, n, grain),
                     [&](weft::chunk<std::size_t> c) {
                       for (std::size_t i : c) p[i] = churn_probability(m, x[i]);
                     });

  if (!holdout.empty()) {
    std::uint64_t correct = 0;
    std::vector<std::pair<double, bool>> scored;
    scored.reserve(holdout.size());
    for (std::size_t i : holdout) {
      const bool churned = y[i] == 1.0;
      correct += (p[i] >= 0.5) == churned;
      scored.emplace_back(p[i], churned);
    }
    r.holdout_accuracy = static_cast<double>(correct) / static_cast<double>(holdout.size());
    r.holdout_auc = auc(std::move(scored));
  }

  // The customers who have not churned, most likely to churn first.
  std::vector<std::size_t> stayers;
  for (std::size_t i = 0; i < n; ++i)
    if (y[i] == 0.0) stayers.push_back(i);
  const std::size_t k = std::min(churn_at_risk, stayers.size());
  std::partial_sort(stayers.begin(), stayers.begin() + static_cast<std::ptrdiff_t>(k),
                    stayers.end(), [&](std::size_t a, std::size_t c) {
                      if (p[a] != p[c]) return p[a] > p[c];
                      return people[a].first < people[c].first;
                    });
  for (std::size_t i = 0; i < k; ++i)
    r.at_risk.emplace_back(people[stayers[i]].first, p[stayers[i]]);
  return r;
}

}  // namespace customer_analysis
