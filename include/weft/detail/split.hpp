// weft/detail/split.hpp
//
// The one splitting routine every primitive is built on. An operation says what one chunk does
// (`leaf(k)`, returning a partial value) and how two neighbouring partials combine
// (`combine(left, right)`); run_chunks runs chunks [0, count) over the pool.
//
// The combine tree is fixed by `count` alone: node [lo, hi) is chunk lo when hi - lo == 1, else
// combine(node(lo, mid), node(mid, hi)) with mid = lo + (hi - lo) / 2. Every split is as even as
// it can be, so the two halves of a join hold the same work to one chunk, whatever `count` is:
// a tree of power-of-two spans would cut 2,893 chunks into 2,048 and 845, and the thread that
// runs the big half without splitting it would finish last. Execution is adaptive (Rayon's
// splitter): a node is split into a join of its two halves only while the split budget lasts,
// and the budget is refilled when a half is stolen, so work spreads when there are idle thieves
// and stays sequential when there are none. A node that is not split is run on one thread by
// walking the same tree depth first, and the walker keeps part of its walk where others can take
// it: whenever its own deque is empty, it splits what is left of the walk and pushes the right
// half (lazy binary splitting). So the result is the same, bit for bit, whoever runs what and
// whenever: determinism costs no extra task.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "../controls.hpp"
#include "../join.hpp"
#include "../thread_pool.hpp"

namespace weft::detail {

// The value type of operations that produce nothing (parallel_for).
struct nothing {};

// Shared by every chunk of one primitive call: cancellation, the first exception, progress.
class run_state {
 public:
  run_state(const controls* options, std::size_t total) noexcept
      : options_(options != nullptr && (options->stop.stop_possible() || options->progress)
                     ? options
                     : nullptr),
        total_(total) {}

  // Checked before every chunk: one relaxed load on the common path.
  bool should_stop() const noexcept {
    if (failed_.load(std::memory_order_relaxed)) return true;
    return options_ != nullptr && options_->stop.stop_requested();
  }

  // Records the first exception in time; later ones are dropped in its favour.
  void fail(std::exception_ptr error) noexcept {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::move(error);
    failed_.store(true, std::memory_order_relaxed);
  }

  void chunk_done(std::size_t indices) {
    if (options_ == nullptr || !options_->progress) return;
    done_.fetch_add(indices, std::memory_order_relaxed);
    const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    const std::int64_t interval =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_->progress_interval).count();
    std::int64_t last = last_report_.load(std::memory_order_relaxed);
    if (now - last < interval) return;
    if (!last_report_.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
    if (reporting_.exchange(true, std::memory_order_acquire)) return;  // never two at once
    try {
      // Read the count only now, inside the one-at-a-time section: each report then sees at
      // least what the previous one did, so progress never goes backwards.
      options_->progress(done_.load(std::memory_order_relaxed), total_);
    } catch (...) {
      fail(std::current_exception());
    }
    reporting_.store(false, std::memory_order_release);
  }

  // After the run: rethrows the first exception, else tells whether all chunks ran.
  status finish(bool complete) {
    if (error_) std::rethrow_exception(error_);
    if (!complete) return status::stopped;
    if (options_ != nullptr && options_->progress) options_->progress(total_, total_);
    return status::completed;
  }

 private:
  const controls* options_;
  std::size_t total_;
  alignas(64) std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  alignas(64) std::atomic<std::size_t> done_{0};
  std::atomic<std::int64_t> last_report_{0};
  std::atomic<bool> reporting_{false};
};

// Rayon's adaptive split budget. Each half of a split gets half the budget; a half that was
// stolen gets at least one split per worker again, since a thief showing up means others idle.
struct splitter {
  std::size_t splits;
  bool try_split() noexcept {
    if (splits == 0) return false;
    splits /= 2;
    return true;
  }
  void stolen(std::size_t workers) noexcept { splits = std::max(workers, splits / 2); }
};

// Runs chunk k, or reports why not: false once the run is stopped or has failed.
template <class Operation>
bool run_leaf(Operation& op, run_state& state, std::size_t k,
              std::optional<typename Operation::value_type>& out) {
  if (state.should_stop()) return false;
  try {
    if constexpr (std::is_same_v<typename Operation::value_type, nothing>) {
      op.leaf(k);
      out.emplace();
    } else {
      out.emplace(op.leaf(k));
    }
    state.chunk_done(op.indices_in(k));
    return true;
  } catch (...) {
    state.fail(std::current_exception());
    return false;
  }
}

// Lazy splitting. The budget alone decides at the start how far a call is cut up: with two
// workers into four walks of a quarter each, and a walk runs on the thread that took it. When
// that thread is slowed (the host gives its CPU to something else for a few milliseconds, or its
// quarter holds the costly chunks) the others finish theirs and would wait for it, and nothing a
// stalled thread does can help them then. So a walker keeps something to steal in its deque at
// all times: before each chunk (in a reduction: before each node of two chunks or more) it looks
// at its own deque, and if a thief has emptied it, hands what is left of the walk to run_node
// with a budget of one split, which pushes the right half. While nobody steals, the walker pops
// that half back a little later and splits it again when it gets there: about log2(chunks) pushes
// and pops per walk, a few nanoseconds each. docs/design.md says what it gains.
inline bool deque_emptied(participant* me) noexcept {
  return me != nullptr && me->deque.looks_empty();
}

template <class Operation>
std::optional<typename Operation::value_type> run_node(participant& me, Operation& op,
                                                       run_state& state, std::size_t lo,
                                                       std::size_t hi, splitter budget);

// Node [lo, hi) on this thread, in the tree's bracketing. Empty optional: stopped or failed.
// `me` is null when the call runs outside the pool (a single chunk): then there is nobody to
// split for.
template <class Operation>
std::optional<typename Operation::value_type> run_in_order(participant* me, Operation& op,
                                                           run_state& state, std::size_t lo,
                                                           std::size_t hi) {
  using value_type = typename Operation::value_type;
  std::optional<value_type> result;
  if constexpr (std::is_same_v<value_type, nothing>) {  // nothing to combine: a plain loop
    for (std::size_t k = lo; k < hi; ++k) {
      if (hi - k >= 2 && deque_emptied(me)) return run_node(*me, op, state, k, hi, splitter{1});
      if (!run_leaf(op, state, k, result)) return std::nullopt;
    }
    return result;
  } else {
    if (hi - lo == 1) {
      if (!run_leaf(op, state, lo, result)) return std::nullopt;
      return result;
    }
    // Run as a join or walked, the node is the same node of the same tree: splitting it changes
    // who combines, never what.
    if (deque_emptied(me)) return run_node(*me, op, state, lo, hi, splitter{1});
    const std::size_t mid = lo + (hi - lo) / 2;
    std::optional<value_type> left = run_in_order(me, op, state, lo, mid);
    if (!left) return std::nullopt;
    std::optional<value_type> right = run_in_order(me, op, state, mid, hi);
    if (!right) return std::nullopt;
    try {
      result.emplace(op.combine(std::move(*left), std::move(*right)));
    } catch (...) {
      state.fail(std::current_exception());
    }
    return result;
  }
}

template <class Operation>
std::optional<typename Operation::value_type> run_node(participant& me, Operation& op,
                                                       run_state& state, std::size_t lo,
                                                       std::size_t hi, splitter budget) {
  using value_type = typename Operation::value_type;
  if (hi - lo == 1 || !budget.try_split()) return run_in_order(&me, op, state, lo, hi);

  const std::size_t mid = lo + (hi - lo) / 2;
  auto left = [&] { return run_node(me, op, state, lo, mid, budget); };
  auto right = [&] {
    participant& runner = *current_participant;
    splitter right_budget = budget;
    if (&runner != &me) right_budget.stolen(runner.owner->workers());
    return run_node(runner, op, state, mid, hi, right_budget);
  };
  auto [left_value, right_value] = join_here(me, left, right);
  if (!left_value || !right_value) return std::nullopt;
  if constexpr (std::is_same_v<value_type, nothing>) {
    return nothing{};
  } else {
    try {
      return op.combine(std::move(*left_value), std::move(*right_value));
    } catch (...) {
      state.fail(std::current_exception());
      return std::nullopt;
    }
  }
}

// Runs the whole operation over `count` > 0 chunks on `pool`, the calling thread included.
// Rethrows the first exception; an empty optional means a stop was requested.
template <class Operation>
std::optional<typename Operation::value_type> run_chunks(thread_pool& pool, Operation& op,
                                                         std::size_t count, run_state& state) {
  std::optional<typename Operation::value_type> result;
  if (count == 1) {  // nothing to share: no pool round trip at all
    result = run_in_order(static_cast<participant*>(nullptr), op, state, 0, 1);
  } else {
    result = run_as_participant(pool, [&](participant& me) {
      return run_node(me, op, state, 0, count, splitter{me.owner->workers()});
    });
  }
  if (state.finish(result.has_value()) == status::stopped) return std::nullopt;
  return result;
}

}  // namespace weft::detail
