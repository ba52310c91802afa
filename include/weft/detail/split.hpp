// weft/detail/split.hpp
//
// The one splitting routine every primitive is built on. An operation says what one chunk does
// (`leaf(k)`, returning a partial value) and how two neighbouring partials combine
// (`combine(left, right)`); run_chunks runs chunks [0, count) over the pool.
//
// The combine tree is fixed by `count` alone: node (lo, span) covers the chunks
// [lo, min(lo + span, count)), span a power of two, lo a multiple of span; its value is
// combine(node(lo, span/2), node(lo + span/2, span/2)), or just node(lo, span/2) when the right
// half is empty. Execution is adaptive (Rayon's splitter): a node is split into a join of its two
// halves only while the split budget lasts, and the budget is refilled when a half is stolen, so
// work spreads when there are idle thieves and stays sequential when there are none. A node that
// is not split is run in order, chunk by chunk, with a binary counter (a stack of partials, one
// per level) that combines them in exactly the tree's order. So the result is the same, bit for
// bit, whoever runs what and whenever: determinism costs no extra task.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

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

// The binary counter's stack: partials with strictly decreasing levels, bottom to top. Small
// partials live inline (no allocation per call); large ones in a vector.
template <class V>
class partial_stack {
  static constexpr bool use_inline = sizeof(V) <= 64 && std::is_trivially_copyable_v<V>;
  static constexpr std::size_t inline_capacity = 65;  // 2^64 chunks need at most 65 levels

 public:
  partial_stack() = default;
  partial_stack(const partial_stack&) = delete;
  partial_stack& operator=(const partial_stack&) = delete;
  ~partial_stack() {
    while (size_ > 0) pop();
  }

  bool empty() const noexcept { return size_ == 0; }
  unsigned top_level() const noexcept { return levels_[size_ - 1]; }

  void push(unsigned level, V&& value) {
    if constexpr (use_inline) {
      ::new (static_cast<void*>(slot(size_))) V(std::move(value));
    } else {
      values_.push_back(std::move(value));
    }
    levels_[size_++] = static_cast<unsigned char>(level);
  }

  V pop() {
    --size_;
    if constexpr (use_inline) {
      V* top = std::launder(slot(size_));
      V value(std::move(*top));
      top->~V();
      return value;
    } else {
      V value(std::move(values_.back()));
      values_.pop_back();
      return value;
    }
  }

 private:
  V* slot(std::size_t i) noexcept { return reinterpret_cast<V*>(storage_ + i * sizeof(V)); }

  struct empty_storage {};
  alignas(V) std::byte storage_[use_inline ? inline_capacity * sizeof(V) : 1];
  std::conditional_t<use_inline, empty_storage, std::vector<V>> values_;
  unsigned char levels_[inline_capacity] = {};
  std::size_t size_ = 0;
};

// Runs chunks [lo, hi) in order on this thread. Empty optional: stopped or failed.
template <class Operation>
std::optional<typename Operation::value_type> run_in_order(Operation& op, run_state& state,
                                                           std::size_t lo, std::size_t hi) {
  using value_type = typename Operation::value_type;
  if constexpr (std::is_same_v<value_type, nothing>) {
    for (std::size_t k = lo; k < hi; ++k) {
      if (state.should_stop()) return std::nullopt;
      try {
        op.leaf(k);
        state.chunk_done(op.indices_in(k));
      } catch (...) {
        state.fail(std::current_exception());
        return std::nullopt;
      }
    }
    return nothing{};
  } else {
    partial_stack<value_type> stack;
    try {
      for (std::size_t k = lo; k < hi; ++k) {
        if (state.should_stop()) return std::nullopt;
        value_type value = op.leaf(k);
        // The carry of a binary counter: a partial meets its left neighbour of the same level.
        unsigned level = 0;
        while (!stack.empty() && stack.top_level() == level) {
          value = op.combine(stack.pop(), std::move(value));
          ++level;
        }
        stack.push(level, std::move(value));
        state.chunk_done(op.indices_in(k));
      }
      // What is left are full blocks, largest first, then the clipped tail: fold from the right.
      value_type result = stack.pop();
      while (!stack.empty()) result = op.combine(stack.pop(), std::move(result));
      return result;
    } catch (...) {
      state.fail(std::current_exception());
      return std::nullopt;
    }
  }
}

template <class Operation>
std::optional<typename Operation::value_type> run_node(participant& me, Operation& op,
                                                       run_state& state, std::size_t lo,
                                                       std::size_t span, std::size_t count,
                                                       splitter budget) {
  using value_type = typename Operation::value_type;
  while (span > 1 && lo + span / 2 >= count) span /= 2;  // empty right half: same value as left
  if (span == 1 || !budget.try_split())
    return run_in_order(op, state, lo, std::min(lo + span, count));

  const std::size_t half = span / 2;
  auto left = [&] { return run_node(me, op, state, lo, half, count, budget); };
  auto right = [&] {
    participant& runner = *current_participant;
    splitter right_budget = budget;
    if (&runner != &me) right_budget.stolen(runner.owner->workers());
    return run_node(runner, op, state, lo + half, half, count, right_budget);
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
    result = run_in_order(op, state, 0, 1);
  } else {
    result = run_as_participant(pool, [&](participant& me) {
      return run_node(me, op, state, 0, std::bit_ceil(count), count, splitter{me.owner->workers()});
    });
  }
  if (state.finish(result.has_value()) == status::stopped) return std::nullopt;
  return result;
}

}  // namespace weft::detail
