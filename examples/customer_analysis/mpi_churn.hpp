// mpi_churn.hpp - the churn model of churn.hpp over many ranks, with the same bits.
//
// Every rank holds the population customers of its id range (ranks in id order), with their
// merged per-customer state. The single-process model makes three kinds of floating-point sums,
// and each is reproduced in its exact order:
//   * standardisation: per feature, a sequential sum over the train set in id order (the mean, then
//     the squared deviations). Here the running sums pass from rank to rank (MPI_Send/MPI_Recv, a
//     chain of 7 doubles and flags), each rank continuing where the previous one stopped; the last
//     rank broadcasts the result.
//   * the gradient, each epoch: weft::parallel_reduce over the train set in chunks of churn_grain.
//     Train rows are moved once (MPI_Alltoallv) so that each rank holds whole chunks - a contiguous
//     run of them, weft::mpi::leaves_of - and weft::mpi::deterministic_allreduce combines the
//     chunks' partial gradients in weft's tree for that many chunks. Every rank ends each epoch
//     with the same weights.
//   * the AUC: rank sums over the holdout customers sorted by probability. The holdout's
//     (probability, churned) pairs are gathered on rank 0 in id order, and the same function runs.
// The holdout accuracy is an integer count; the at-risk list merges each rank's top 20 on rank 0.
#pragma once

#include <weft/mpi.hpp>
#include <weft/weft.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "aggregate.hpp"
#include "churn.hpp"
#include "mpi_comm.hpp"
#include <mpi.h>

namespace customer_analysis::mpi {

// The running state of the standardisation's sequential sums, handed from rank to rank.
struct feature_sums {
  std::array<double, feature_count> sum{};
  std::array<double, feature_count> first{};  // the first train customer's features
  std::array<std::uint8_t, feature_count> constant{};
  std::uint8_t have_first = 0;
};

// Runs fold(state) on every rank in rank order, each starting from the previous rank's result,
// and returns the last rank's result on every rank.
template <class T, class Fold>
T chain(const world& w, T state, Fold&& fold) {
  constexpr int tag = 7;
  if (w.rank > 0) MPI_Recv(&state, sizeof(T), MPI_BYTE, w.rank - 1, tag, w.comm, MPI_STATUS_IGNORE);
  fold(state);
  if (w.rank + 1 < w.size) MPI_Send(&state, sizeof(T), MPI_BYTE, w.rank + 1, tag, w.comm);
  MPI_Bcast(&state, sizeof(T), MPI_BYTE, w.size - 1, w.comm);
  return state;
}

struct train_row {
  feature_row x;
  double y;
};

struct scored_customer {
  double p;
  double churned;
};

struct risk_entry {
  std::uint64_t id;
  double p;
};

// `population`: this rank's valid customers.csv rows, sorted by id; `states`: this rank's customers
// from interactions, sorted by id. The result is complete on rank 0; the counts on every rank.
template <class State>
churn_result run_churn(const world& w, weft::thread_pool& pool,
                       const std::vector<customer_handler::row>& population,
                       const std::vector<State>& states, bool any_interaction,
                       std::int64_t latest_timestamp) {
  churn_result r;
  const std::size_t n = population.size();

  // Features, and who is unlabelled (seen in interactions, absent from the population).
  std::vector<feature_row> x(n);
  std::vector<double> y(n);
  std::vector<std::size_t> train, holdout;
  std::uint64_t unlabelled = 0;
  {
    std::size_t s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t id = population[i].customer_id;
      for (; s < states.size() && states[s].id < id; ++s) ++unlabelled;
      customer_state st;
      if (s < states.size() && states[s].id == id) st = states[s++].state;
      x[i] = churn_features(st, population[i].info, any_interaction, latest_timestamp);
      y[i] = population[i].info.churned;
      (id % 5 == 0 ? holdout : train).push_back(i);
    }
    unlabelled += states.size() - s;
  }
  std::uint64_t counts[3] = {unlabelled, train.size(), holdout.size()};
  MPI_Allreduce(MPI_IN_PLACE, counts, 3, MPI_UINT64_T, MPI_SUM, w.comm);
  r.unlabelled_customers = counts[0];
  r.train_customers = counts[1];
  r.holdout_customers = counts[2];
  const std::uint64_t train_total = counts[1];

  // Standardisation: the sums in train order, across ranks.
  feature_sums sums;
  sums.constant.fill(1);
  sums = chain(w, sums, [&](feature_sums& s) {
    for (std::size_t i : train) {
      if (!s.have_first) {
        s.first = x[i];
        s.have_first = 1;
      }
      for (std::size_t j = 0; j < feature_count; ++j) {
        s.sum[j] += x[i][j];
        if (x[i][j] != s.first[j]) s.constant[j] = 0;
      }
    }
  });
  std::array<double, feature_count> mean{};
  for (std::size_t j = 0; j < feature_count; ++j)
    if (train_total > 0 && !sums.constant[j])
      mean[j] = sums.sum[j] / static_cast<double>(train_total);
  const auto squares = chain(w, std::array<double, feature_count>{}, [&](auto& sq) {
    for (std::size_t j = 0; j < feature_count; ++j) {
      if (train_total == 0 || sums.constant[j]) continue;
      for (std::size_t i : train) sq[j] += (x[i][j] - mean[j]) * (x[i][j] - mean[j]);
    }
  });
  for (std::size_t j = 0; j < feature_count; ++j) {
    if (train_total == 0 || sums.constant[j]) {
      for (auto& row : x) row[j] = 0.0;
      continue;
    }
    const double sd = std::sqrt(squares[j] / static_cast<double>(train_total));
    for (auto& row : x) row[j] = (row[j] - mean[j]) / sd;
  }

  // Train rows to the ranks that own their gradient chunks (whole chunks, contiguous runs).
  std::uint64_t train_before = 0, mine = train.size();
  MPI_Exscan(&mine, &train_before, 1, MPI_UINT64_T, MPI_SUM, w.comm);
  if (w.rank == 0) train_before = 0;
  const std::size_t chunks =
      (static_cast<std::size_t>(train_total) + churn_grain - 1) / churn_grain;
  std::vector<std::size_t> first_chunk(static_cast<std::size_t>(w.size) + 1, chunks);
  for (int q = 0; q < w.size; ++q)
    first_chunk[static_cast<std::size_t>(q)] = weft::mpi::leaves_of(chunks, q, w.size).first;
  std::vector<std::vector<train_row>> out(static_cast<std::size_t>(w.size));
  for (std::size_t k = 0; k < train.size(); ++k) {
    const std::size_t chunk = (static_cast<std::size_t>(train_before) + k) / churn_grain;
    const auto dest = static_cast<std::size_t>(
        std::upper_bound(first_chunk.begin(), first_chunk.end() - 1, chunk) - first_chunk.begin() -
        1);
    out[dest].push_back({x[train[k]], y[train[k]]});
  }
  train_columns rows;
  for (const train_row& row : all_to_all(w, out)) rows.push_back(row.x, row.y);
  out = {};
  const weft::mpi::leaf_range my_chunks = weft::mpi::leaves_of(chunks, w.rank, w.size);

  // Gradient descent: each rank folds its chunks as the single-process program folds them; the
  // chunks are combined in weft's tree.
  churn_weights m;
  if (train_total > 0) {
    std::vector<churn_gradient> partials(my_chunks.size());
    for (int epoch = 0; epoch < churn_epochs; ++epoch) {
      weft::parallel_for(pool, weft::chunked(std::size_t{0}, my_chunks.size(), 1),
                         [&](weft::chunk<std::size_t> c) {
                           const std::size_t k = c.first();
                           const std::size_t a = k * churn_grain;
                           const std::size_t b = std::min(rows.size(), a + churn_grain);
                           partials[k] = chunk_gradient(m, rows, a, b);
                         });
      const churn_gradient sum = weft::mpi::deterministic_allreduce(
          pool, w.comm, std::span<const churn_gradient>(partials), churn_gradient{},
          combine_gradients);
      apply_gradient(m, sum, static_cast<std::size_t>(train_total));
    }
  }

  // Holdout accuracy and AUC, at-risk customers.
  std::vector<double> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = churn_probability(m, x[i]);
  std::uint64_t correct = 0;
  std::vector<scored_customer> scored;
  for (std::size_t i : holdout) {
    const bool churned = y[i] == 1.0;
    correct += (p[i] >= 0.5) == churned;
    scored.push_back({p[i], y[i]});
  }
  MPI_Allreduce(MPI_IN_PLACE, &correct, 1, MPI_UINT64_T, MPI_SUM, w.comm);
  const std::vector<scored_customer> all_scored = gather(w, scored, 0);

  auto riskier = [](const risk_entry& a, const risk_entry& c) {
    if (a.p != c.p) return a.p > c.p;
    return a.id < c.id;
  };
  std::vector<risk_entry> stayers;
  for (std::size_t i = 0; i < n; ++i)
    if (y[i] == 0.0) stayers.push_back({population[i].customer_id, p[i]});
  auto top = [&](std::vector<risk_entry>& v) {
    const std::size_t k = std::min(churn_at_risk, v.size());
    std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end(), riskier);
    v.resize(k);
  };
  top(stayers);
  std::vector<risk_entry> at_risk = gather(w, stayers, 0);

  if (w.rank == 0) {
    if (r.holdout_customers > 0) {
      r.holdout_accuracy = static_cast<double>(correct) / static_cast<double>(r.holdout_customers);
      std::vector<std::pair<double, bool>> pairs;
      pairs.reserve(all_scored.size());
      for (const scored_customer& s : all_scored) pairs.emplace_back(s.p, s.churned == 1.0);
      r.holdout_auc = auc(std::move(pairs));
    }
    top(at_risk);
    for (const risk_entry& e : at_risk) r.at_risk.emplace_back(e.id, e.p);
  }
  return r;
}

}  // namespace customer_analysis::mpi
