// weft/detail/parking.hpp
//
// Where idle threads sleep. Every participant of a pool (worker, or caller that joined in) owns a
// parker: a 32-bit word it sleeps on with std::atomic::wait. A bit mask says who is parked and
// open to new work; a waker claims one bit with a CAS, so that two wakers never spend a system call
// on the same sleeper. The protocol that rules out lost wake-ups is in docs/design.md ("Parking").
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace weft::detail {

// The store-load fence of the parking protocol, cut into two unequal halves (an asymmetric Dekker
// fence). A thread outside the pool that pushes a task and then looks for a sleeper to wake needs
// its store ordered before its load; so does a worker that announces it parks and then looks for
// work once more. Pushing happens once per task and parking rarely, so the cost goes to the
// parker: `light()` is only a compiler barrier, and `heavy()` is membarrier's private expedited
// command, which makes every running thread of the process execute a full memory barrier before
// it returns. Either the pusher's barrier point falls after its store (the parker's re-check then
// sees the task) or before its load (which then sees the announcement): no lost wake-up. A seq_cst
// store on every push from outside cost a cache-line round trip per task: a million tiny tasks
// from outside ran 15-20 % slower. Where membarrier is missing (not Linux, an old kernel, a
// sandbox that forbids it), both halves are a seq_cst read-modify-write of one shared word: the
// two RMWs are ordered, and the earlier synchronizes with the later, which orders the store before
// it against the load after the other (and, unlike a fence, ThreadSanitizer understands it).
class asymmetric_fence {
 public:
  // Called once per pool, before any thread uses the fence.
  static void set_up() noexcept {
    static const bool registered = [] {
#if defined(__linux__) && defined(SYS_membarrier)
      const long commands = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);
      return commands >= 0 && (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
             syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0;
#else
      return false;
#endif
    }();
    expedited().store(registered, std::memory_order_relaxed);
  }

  static void light() noexcept {
    if (expedited().load(std::memory_order_relaxed))
      std::atomic_signal_fence(std::memory_order_seq_cst);
    else
      shared_word().fetch_add(0, std::memory_order_seq_cst);
  }

  static void heavy() noexcept {
#if defined(__linux__) && defined(SYS_membarrier)
    // Once registered, the command cannot fail (the only errors are an unknown command and a
    // missing registration).
    if (expedited().load(std::memory_order_relaxed) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) == 0)
      return;
#endif
    shared_word().fetch_add(0, std::memory_order_seq_cst);
  }

 private:
  // Set before the pool's threads start (thread creation orders it before their first use), and
  // never changes from true to false.
  static std::atomic<bool>& expedited() noexcept {
    static std::atomic<bool> value{false};
    return value;
  }
  static std::atomic<std::uint32_t>& shared_word() noexcept {
    static std::atomic<std::uint32_t> word{0};
    return word;
  }
};

class parking_lot {
 public:
  explicit parking_lot(std::size_t participants)
      : words_((participants + 63) / 64),
        open_to_work_(new std::atomic<std::uint64_t>[words_]),
        parkers_(new parker[participants]) {
    for (std::size_t w = 0; w < words_; ++w) open_to_work_[w].store(0, std::memory_order_relaxed);
  }

  // Step 1 of parking: announce. The caller must look for work (and at whatever it waits for)
  // once more after this and before park(), then call cancel() if it found any.
  //
  // The fetch_or is sequentially consistent, and so is the waker's read of the mask after it has
  // published work: of "the waker sees the bit" and "the parker sees the work", at least one holds.
  //
  // The word is set with seq_cst too: a waker that learns of this sleeper through something else
  // (a task_group's count reaching zero, read seq_cst after the parker's seq_cst store) must find
  // the word set when it goes to clear it.
  void prepare(std::size_t who, bool open_to_work) noexcept {
    parkers_[who].asleep.store(1, std::memory_order_seq_cst);
    if (open_to_work) word(who).fetch_or(bit(who), std::memory_order_seq_cst);
  }

  // Step 2: sleep until woken. Spurious returns are possible; the caller re-checks in a loop.
  void park(std::size_t who) noexcept {
    auto& asleep = parkers_[who].asleep;
    while (asleep.load(std::memory_order_acquire) == 1) asleep.wait(1, std::memory_order_acquire);
  }

  // After park() returns, or instead of it: leave the mask. Harmless if a waker already did.
  void cancel(std::size_t who) noexcept {
    if (word(who).load(std::memory_order_relaxed) & bit(who))
      word(who).fetch_and(~bit(who), std::memory_order_relaxed);
  }

  // Wakes one participant parked open to work, if any, and says whether it did. The caller has
  // published the work; for
  // work that nobody else is bound to find (a task from outside the pool), with a seq_cst store.
  bool wake_one() noexcept {
    for (std::size_t w = 0; w < words_; ++w) {
      std::uint64_t mask = open_to_work_[w].load(std::memory_order_seq_cst);
      while (mask != 0) {
        const std::uint64_t lowest = mask & (~mask + 1);
        if (open_to_work_[w].compare_exchange_weak(mask, mask & ~lowest, std::memory_order_acq_rel,
                                                   std::memory_order_relaxed)) {
          wake_parker(w * 64 + static_cast<std::size_t>(std::countr_zero(lowest)));
          return true;
        }
      }
    }
    return false;
  }

  // Wakes one particular participant, parked open to work or not (it waits for a latch).
  void wake(std::size_t who) noexcept {
    if (word(who).load(std::memory_order_seq_cst) & bit(who))
      word(who).fetch_and(~bit(who), std::memory_order_acq_rel);
    wake_parker(who);
  }

  // Takes a participant parked open to work out of the mask without waking it: it stays asleep
  // until somebody wakes it by name (see scheduler::enter_call). False if it was not in the mask.
  bool claim(std::size_t who) noexcept {
    std::uint64_t mask = word(who).load(std::memory_order_relaxed);
    while (mask & bit(who))
      if (word(who).compare_exchange_weak(mask, mask & ~bit(who), std::memory_order_acq_rel,
                                          std::memory_order_relaxed))
        return true;
    return false;
  }

  void wake_all(std::size_t participants) noexcept {
    for (std::size_t w = 0; w < words_; ++w) open_to_work_[w].store(0, std::memory_order_seq_cst);
    for (std::size_t who = 0; who < participants; ++who) wake_parker(who);
  }

  // A hint for the hot path (a push inside the pool): is anybody parked open to work?
  bool anyone_parked() const noexcept {
    for (std::size_t w = 0; w < words_; ++w)
      if (open_to_work_[w].load(std::memory_order_relaxed) != 0) return true;
    return false;
  }

 private:
  struct alignas(64) parker {
    std::atomic<std::uint32_t> asleep{0};
  };

  std::atomic<std::uint64_t>& word(std::size_t who) noexcept { return open_to_work_[who / 64]; }
  static std::uint64_t bit(std::size_t who) noexcept { return std::uint64_t{1} << (who % 64); }

  void wake_parker(std::size_t who) noexcept {
    auto& asleep = parkers_[who].asleep;
    if (asleep.exchange(0, std::memory_order_seq_cst) == 1) asleep.notify_one();
  }

  std::size_t words_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> open_to_work_;
  std::unique_ptr<parker[]> parkers_;
};

}  // namespace weft::detail
