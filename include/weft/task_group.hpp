// weft/task_group.hpp
//
// Structured tasks: run() as many as you like (from any thread, from inside the group's own tasks
// too), then wait() for all of them. wait() rethrows the first exception; once a task has thrown,
// tasks of the group that have not started yet are skipped. A waiting participant runs other
// tasks meanwhile, so waiting inside a task never deadlocks the pool.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "thread_pool.hpp"

namespace weft {

// What becomes of an exception that no wait() observed because the group was destroyed first:
// the group's destructor hands it to this handler (it must not throw). The default handler
// prints the exception's what() to stderr; the program goes on.
using unobserved_exception_handler = void (*)(std::exception_ptr) noexcept;

namespace detail {
inline void print_unobserved_exception(std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "weft: a task_group was destroyed with an exception nobody waited for: %s\n",
                 e.what());
  } catch (...) {
    std::fprintf(stderr,
                 "weft: a task_group was destroyed with an exception nobody waited for (not a "
                 "std::exception)\n");
  }
}
inline std::atomic<unobserved_exception_handler> unobserved_handler{&print_unobserved_exception};
}  // namespace detail

// Sets the handler and returns the previous one. Pass nullptr to restore the default.
inline unobserved_exception_handler set_unobserved_exception_handler(
    unobserved_exception_handler handler) noexcept {
  return detail::unobserved_handler.exchange(
      handler != nullptr ? handler : &detail::print_unobserved_exception);
}

class task_group {
 public:
  explicit task_group(thread_pool& pool) noexcept : core_(&pool.core()) {}
  task_group() : task_group(default_pool()) {}

  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // Waits for every task; never throws. See set_unobserved_exception_handler.
  ~task_group() {
    wait_for_all();
    // Destroyed by another thread than the one holding the group's slot: the slot goes back here.
    if (slot_holder_.load(std::memory_order_relaxed) != nullptr)
      core_->release_caller_slot(*held_slot_);
    if (error_) detail::unobserved_handler.load()(std::move(error_));
  }

  // Runs f() on the pool. f may be move-only. Throws std::logic_error if the pool is being
  // destroyed and the caller is outside it.
  template <class F>
    requires(std::invocable<std::decay_t<F>&>)
  void run(F&& f) {
    state_.fetch_add(one_task, std::memory_order_relaxed);
    auto body = [this, f = std::forward<F>(f)]() mutable noexcept {
      if (!failed_.load(std::memory_order_relaxed)) {
        try {
          std::invoke(f);
        } catch (...) {
          record(std::current_exception());
        }
      }
      finish_one();
    };
    try {
      detail::participant* me = core_->current();
      if (me == nullptr && !core_->closing()) {
        // The slot this thread holds is its own while it holds it: so are the slot's job caches.
        if (detail::participant* slot = slot_of_outside_caller()) {
          core_->push_from_outside(*slot,
                                   detail::make_heap_job(std::move(body), &slot->caches).release());
          return;
        }
      }
      auto job = detail::make_heap_job(std::move(body), me != nullptr ? &me->caches : nullptr);
      core_->spawn(job.get());
      job.release();
    } catch (...) {
      state_.fetch_sub(one_task, std::memory_order_relaxed);
      throw;
    }
  }

  // Waits until every task run so far has finished, then rethrows the first exception, if any.
  // The group can be used again afterwards.
  void wait() {
    wait_for_all();
    std::exception_ptr error;
    {
      std::lock_guard lock(error_mutex_);
      error = std::exchange(error_, nullptr);
      failed_.store(false, std::memory_order_relaxed);
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  // state_: the number of unfinished tasks above `code_bits`; below, who sleeps until it is 0:
  // bit 0 = some thread outside the pool, bits 1.. = index + 1 of one participant.
  static constexpr int code_bits = 24;
  static constexpr std::uint64_t one_task = std::uint64_t{1} << code_bits;
  static constexpr std::uint64_t code_mask = one_task - 1;
  static constexpr std::uint64_t outsider_bit = 1;

  void record(std::exception_ptr error) noexcept {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::move(error);
    failed_.store(true, std::memory_order_relaxed);
  }

  void finish_one() noexcept {
    detail::scheduler* core = core_;  // the group may be gone once the count reaches zero
    // seq_cst, as the sleeper's check in waitable: of "we see the sleeper's code" and "the sleeper
    // sees the count at zero", at least one holds (see parking_lot::prepare).
    const std::uint64_t previous = state_.fetch_sub(one_task, std::memory_order_seq_cst);
    if ((previous >> code_bits) != 1) return;
    const std::uint64_t sleeper = (previous & code_mask) >> 1;
    if (sleeper != 0) core->parking().wake(static_cast<std::size_t>(sleeper - 1));
    if (previous & outsider_bit) core->outside().wake_all();
  }

  bool all_done() const noexcept {
    return (state_.load(std::memory_order_acquire) >> code_bits) == 0;
  }

  // The helping wait's view of the group (see scheduler::help_until).
  struct waitable {
    task_group& group;
    bool ready() const noexcept { return group.all_done(); }
    bool register_sleeper(std::size_t) const noexcept {
      return (group.state_.load(std::memory_order_seq_cst) >> code_bits) != 0;
    }
  };

  // Claims the participant field of state_ for `me`; false if another participant holds it.
  bool claim_sleeper_field(std::size_t me) noexcept {
    const std::uint64_t code = (static_cast<std::uint64_t>(me) + 1) << 1;
    std::uint64_t current = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((current & code_mask & ~outsider_bit) != 0) return false;
      if (state_.compare_exchange_weak(current, current | code, std::memory_order_acq_rel,
                                       std::memory_order_relaxed))
        return true;
    }
  }
  void clear_code(std::uint64_t bits) noexcept {
    state_.fetch_and(~bits, std::memory_order_acq_rel);
  }

  // A thread outside the pool that runs tasks holds a caller slot from its first run() to the end
  // of its wait(): its tasks go onto that slot's deque, where workers steal them, instead of
  // through the shared injection queue, and its wait() finds them there first. Null if another
  // thread holds the group's slot or no slot is free: the task is then injected.
  detail::participant* slot_of_outside_caller() noexcept {
    const void* me = &detail::this_thread_token;
    const void* holder = slot_holder_.load(std::memory_order_relaxed);
    if (holder == me) return held_slot_;
    if (holder != nullptr) return nullptr;
    detail::participant* slot = core_->acquire_caller_slot();
    if (slot == nullptr) return nullptr;
    // Acquire: pairs with the release that let the group go (in wait_as_holder), so this
    // thread's write of held_slot_ comes after the previous holder's last read of it.
    if (!slot_holder_.compare_exchange_strong(holder, me, std::memory_order_acquire,
                                              std::memory_order_relaxed)) {
      core_->release_caller_slot(*slot);
      return nullptr;
    }
    held_slot_ = slot;  // read by the holder thread only (and the destructor)
    return slot;
  }

  void wait_for_all() noexcept {
    if (slot_holder_.load(std::memory_order_relaxed) == &detail::this_thread_token) {
      wait_as_holder();
      return;
    }
    if (all_done()) return;
    detail::participant* me = core_->current();
    std::optional<detail::caller_slot_guard> slot;
    if (me == nullptr) {
      if (detail::participant* free_slot = core_->acquire_caller_slot()) {
        slot.emplace(*core_, *free_slot);
        me = free_slot;
      }
    }
    wait_with(me);
  }

  // The wait of the thread that holds the group's caller slot: as that slot (unless it is inside
  // the pool already), then the slot goes back and the group is free for any thread to hold.
  void wait_as_holder() noexcept {
    detail::participant& held = *held_slot_;
    if (detail::participant* me = core_->current()) {
      wait_with(me);
    } else {
      detail::caller_slot_guard acting(*core_, held, /*release=*/false);
      run_oldest_first(held);
      wait_with(&held);
    }
    // held_slot_ was read above: from this store on, another thread may take the group and
    // write it.
    slot_holder_.store(nullptr, std::memory_order_release);
    core_->release_caller_slot(held);
  }

  // The holder's tasks lie on its slot's deque in the order run() was called. Taking them from the
  // thieves' end, oldest first, keeps the order the injection queue would have given them, so a
  // task that throws early still stops the later ones. What those tasks spawn goes to the bottom
  // and is popped newest first by the joins and waits inside them, as anywhere else.
  void run_oldest_first(detail::participant& me) noexcept {
    while (!all_done()) {
      const auto work = me.deque.steal([&](const void* tag) { return me.may_run(tag); });
      if (work.task != nullptr) {
        core_->execute(me, work);
      } else if (!work.contended) {
        return;
      }
    }
  }

  // Waits as participant `me` (helping), or, if null, blocked outside the pool.
  void wait_with(detail::participant* me) noexcept {
    if (all_done()) return;
    if (me != nullptr && claim_sleeper_field(me->index)) {
      // The field is set before help_until can park, so finish_one sees whom to wake; the count
      // and the field are one word, so no wake-up can fall between them.
      waitable view{*this};
      core_->help_until(*me, view);
      clear_code((static_cast<std::uint64_t>(me->index) + 1) << 1);
      return;
    }
    // Not a participant, or another participant already waits here: block without helping.
    state_.fetch_or(outsider_bit, std::memory_order_acq_rel);
    for (;;) {
      const std::uint32_t epoch = core_->outside().epoch.load(std::memory_order_acquire);
      if (all_done()) break;
      core_->outside().epoch.wait(epoch, std::memory_order_acquire);
    }
  }

  // What every task reads (core_, failed_) is kept off the line of state_, which every run() and
  // every finished task writes: a task that reads failed_ from that line would first have to fetch
  // it from whichever thread wrote the count last, then fetch it again for its own decrement.
  detail::scheduler* core_;
  std::atomic<const void*> slot_holder_{nullptr};
  detail::participant* held_slot_ = nullptr;
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  alignas(64) std::atomic<std::uint64_t> state_{0};
};

}  // namespace weft
