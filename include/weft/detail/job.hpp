// weft/detail/job.hpp
//
// The units the scheduler moves around. A `task` is one function pointer: no virtual call, no
// std::function, no allocation of its own. Two kinds exist:
//  - heap_job: owns a callable and frees itself after running (submit, task_group::run);
//  - stack_job: lives on the frame of the thread that forked it (join), and signals a latch when a
//    thief has run it, so that the frame can safely end.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "parking.hpp"

namespace weft::detail {

struct task {
  using execute_fn = void (*)(task*) noexcept;
  explicit task(execute_fn fn) noexcept : execute(fn) {}
  execute_fn execute;
};

// Runs a callable once and deletes itself.
template <class F>
struct heap_job final : task {
  explicit heap_job(F&& f) : task(&run), function(std::move(f)) {}
  static void run(task* self) noexcept {
    std::unique_ptr<heap_job> job(static_cast<heap_job*>(self));
    job->function();  // the callable is responsible for its own exceptions
  }
  F function;
};

// Owned by the caller until the scheduler accepts it (spawn may throw).
template <class F>
std::unique_ptr<heap_job<std::decay_t<F>>> make_heap_job(F&& f) {
  return std::make_unique<heap_job<std::decay_t<F>>>(std::forward<F>(f));
}

// Where threads that are not participants of a pool sleep while they wait for it (see latch).
// One word per pool; every waiter outside re-checks its own condition when it changes.
struct outside_waiters {
  std::atomic<std::uint32_t> epoch{0};
  void wake_all() noexcept {
    epoch.fetch_add(1, std::memory_order_release);
    epoch.notify_all();
  }
};

// A one-shot flag a thread waits on. The word also records who sleeps on it, so that the thread
// that sets it knows whom to wake without touching the latch afterwards: the latch usually lives
// on the waiter's stack and may be gone the moment it is set.
class latch {
 public:
  static constexpr std::uint32_t unset = 0;
  static constexpr std::uint32_t done = 1;
  static constexpr std::uint32_t outsider_asleep = 2;
  static constexpr std::uint32_t first_participant = 3;  // 3 + index: that participant is asleep

  latch(parking_lot& parking, outside_waiters& outside) noexcept
      : parking_(&parking), outside_(&outside) {}

  bool ready() const noexcept { return state_.load(std::memory_order_acquire) == done; }

  void set() noexcept {
    parking_lot* parking = parking_;  // read before the exchange: *this may die right after it
    outside_waiters* outside = outside_;
    const std::uint32_t previous = state_.exchange(done, std::memory_order_acq_rel);
    if (previous >= first_participant)
      parking->wake(previous - first_participant);
    else if (previous == outsider_asleep)
      outside->wake_all();
  }

  // The participant is about to park (it has called parking_lot::prepare). Returns false if the
  // latch is already set. Both sides act on the one word, so either this sees `done` or set()
  // sees the sleeper.
  bool register_sleeper(std::size_t participant) noexcept {
    const auto sleeper = static_cast<std::uint32_t>(first_participant + participant);
    std::uint32_t current = state_.load(std::memory_order_acquire);
    while (current != done) {
      if (current == sleeper) return true;
      if (state_.compare_exchange_weak(current, sleeper, std::memory_order_acq_rel,
                                       std::memory_order_acquire))
        return true;
    }
    return false;
  }

  // For a thread that is no participant of the pool: sleep until set.
  void wait_outside() noexcept {
    for (;;) {
      const std::uint32_t epoch = outside_->epoch.load(std::memory_order_acquire);
      std::uint32_t current = state_.load(std::memory_order_acquire);
      if (current == done) return;
      if (current != outsider_asleep &&
          !state_.compare_exchange_strong(current, outsider_asleep, std::memory_order_acq_rel,
                                          std::memory_order_acquire))
        continue;
      outside_->epoch.wait(epoch, std::memory_order_acquire);
    }
  }

 private:
  std::atomic<std::uint32_t> state_{unset};
  parking_lot* parking_;
  outside_waiters* outside_;
};

// `void` results become std::monostate, so that join can return a pair either way.
// F is invoked as an lvalue, as join and the jobs do.
template <class F>
using result_of_t = std::conditional_t<std::is_void_v<std::invoke_result_t<F&>>, std::monostate,
                                       std::invoke_result_t<F&>>;

template <class F>
result_of_t<F> invoke_to_value(F& f) {
  if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
    std::invoke(f);
    return std::monostate{};
  } else {
    return std::invoke(f);
  }
}

// The forked half of a join, on the joining thread's stack. The callable is referenced, not
// copied: the joining frame outlives the job.
template <class F>
struct stack_job final : task {
  using value_type = result_of_t<F>;

  stack_job(F& f, parking_lot& parking, outside_waiters& outside)
      : task(&run_stolen), function(&f), finished(parking, outside) {}

  // Run by the thread that forked it, after popping it back: no latch needed.
  void run_here() noexcept {
    try {
      result.emplace(invoke_to_value(*function));
    } catch (...) {
      error = std::current_exception();
    }
  }

  static void run_stolen(task* self) noexcept {
    auto* job = static_cast<stack_job*>(self);
    job->run_here();
    job->finished.set();
  }

  value_type take() {
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }

  F* function;
  std::optional<value_type> result;
  std::exception_ptr error;
  latch finished;
};

}  // namespace weft::detail
