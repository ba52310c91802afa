// weft/detail/work_stealing_deque.hpp
//
// The per-participant task deque: a growable Chase-Lev deque. Its owner pushes and pops at the
// bottom without locks; thieves steal from the top with one compare-and-swap. The memory orders
// follow Lê, Pop, Cohen and Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak Memory
// Models" (PPoPP 2013); see docs/design.md for the argument.
//
// Each slot also carries an isolation tag (see weft::isolate): a thief reads the tag beside the
// pointer and only claims the task when the tag is one it may run. The tag lives in the slot, not
// in the task, because a thief must never read a task it has not claimed: the owner may already
// have run it and the task (often on the owner's stack) may be gone.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace weft::detail {

template <class Task>
class work_stealing_deque {
 public:
  struct taken {
    Task* task = nullptr;
    const void* tag = nullptr;  // the isolation tag it was pushed with
    bool contended = false;     // steal only: lost a race with another thief or the owner
  };

  explicit work_stealing_deque(std::size_t initial_capacity = 256)
      : ring_(new ring(round_up_to_power_of_two(initial_capacity))) {
    retired_.emplace_back(ring_.load(std::memory_order_relaxed));
  }

  work_stealing_deque(const work_stealing_deque&) = delete;
  work_stealing_deque& operator=(const work_stealing_deque&) = delete;

  // Owner only.
  void push(Task* task, const void* tag) {
    const std::int64_t bottom = bottom_.load(std::memory_order_relaxed);
    ring* buffer = ring_.load(std::memory_order_relaxed);
    // Is there room? top_ only grows, so an older value of it is a lower bound: when even that
    // leaves room, there is room, and the slot about to be reused (index bottom - capacity) was
    // claimed by a steal whose CAS the acquire load of that older value already saw, so the thief
    // has finished reading it. Only then is top_ read again: while thieves are busy, its cache
    // line is theirs, and reading it on every push cost a miss per task.
    if (bottom - top_seen_ > static_cast<std::int64_t>(buffer->mask)) {
      top_seen_ = top_.load(std::memory_order_acquire);
      if (bottom - top_seen_ > static_cast<std::int64_t>(buffer->mask))
        buffer = grow(buffer, top_seen_, bottom);
    }
    buffer->at(bottom).store(task, tag);
    // Release: a thief that reads the new bottom (acquire) also sees the slot and everything the
    // owner wrote into the task before pushing it. (A constant: an order passed in at run time
    // is compiled as seq_cst, an xchg, wherever the call is not inlined.)
    bottom_.store(bottom + 1, std::memory_order_release);
  }

  // Owner only. Pops the newest task, but only if `may_run(tag)` accepts its tag.
  template <class TagFilter>
  taken pop(TagFilter&& may_run) {
    const std::int64_t bottom = bottom_.load(std::memory_order_relaxed) - 1;
    ring* buffer = ring_.load(std::memory_order_relaxed);
    // Peek first (the owner's own slot cannot change under it): refusing a task must not disturb
    // the thieves.
    if (bottom < top_.load(std::memory_order_relaxed)) return {};
    const void* tag = buffer->at(bottom).tag.load(std::memory_order_relaxed);
    if (!may_run(tag)) return {};
    // Sequentially consistent store, then load: this store-load pair must not be reordered, or the
    // owner and a thief could both take the last task. (Lê et al. use relaxed accesses around a
    // seq_cst fence; seq_cst accesses say the same, cost the same on x86 and ARMv8, and are
    // understood by ThreadSanitizer, which does not model fences.)
    bottom_.store(bottom, std::memory_order_seq_cst);
    std::int64_t top = top_.load(std::memory_order_seq_cst);
    if (top > bottom) {  // a thief emptied the deque meanwhile
      bottom_.store(bottom + 1, std::memory_order_relaxed);
      return {};
    }
    Task* task = buffer->at(bottom).task.load(std::memory_order_relaxed);
    if (top == bottom) {
      // The last task: race the thieves for it on top, as they do.
      if (!top_.compare_exchange_strong(top, top + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed))
        task = nullptr;
      bottom_.store(bottom + 1, std::memory_order_relaxed);
    }
    return {task, tag};
  }

  // Any thread. Takes the oldest task if `may_run(tag)` accepts its tag.
  template <class TagFilter>
  taken steal(TagFilter&& may_run) {
    // Both loads seq_cst: they pair with pop()'s store-load pair, so a thief and the owner never
    // both see the last task as theirs.
    std::int64_t top = top_.load(std::memory_order_seq_cst);
    const std::int64_t bottom = bottom_.load(std::memory_order_seq_cst);
    if (top >= bottom) return {};
    ring* buffer = ring_.load(std::memory_order_acquire);
    auto& slot = buffer->at(top);
    Task* task = slot.task.load(std::memory_order_relaxed);
    const void* tag = slot.tag.load(std::memory_order_relaxed);
    // The values read are only trusted if the CAS below succeeds: then top was still `top`, so
    // slot `top` was not reused in between.
    if (!may_run(tag)) return {};
    // A prefetch is not a read: it never faults and sees no data, so it is harmless even if the
    // task is gone by now. When the CAS wins, the task's line (in the cache of the thread that made
    // it) is then already on its way, instead of being fetched only after the CAS's round trip.
    __builtin_prefetch(task);
    if (!top_.compare_exchange_strong(top, top + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed))
      return {nullptr, nullptr, true};
    return {task, tag, false};
  }

  // Any thread; a hint only (it may be stale the moment it returns).
  bool looks_empty() const noexcept {
    return top_.load(std::memory_order_relaxed) >= bottom_.load(std::memory_order_relaxed);
  }

 private:
  struct slot {
    std::atomic<Task*> task{nullptr};
    std::atomic<const void*> tag{nullptr};
    void store(Task* t, const void* g) noexcept {
      task.store(t, std::memory_order_relaxed);
      tag.store(g, std::memory_order_relaxed);
    }
  };

  struct ring {
    explicit ring(std::size_t capacity) : mask(capacity - 1), slots(new slot[capacity]) {}
    slot& at(std::int64_t index) noexcept { return slots[static_cast<std::size_t>(index) & mask]; }
    std::size_t mask;
    std::unique_ptr<slot[]> slots;
  };

  static std::size_t round_up_to_power_of_two(std::size_t n) {
    std::size_t capacity = 16;
    while (capacity < n) capacity *= 2;
    return capacity;
  }

  ring* grow(ring* old, std::int64_t top, std::int64_t bottom) {
    auto bigger = std::make_unique<ring>((old->mask + 1) * 2);
    for (std::int64_t i = top; i < bottom; ++i) {
      auto& from = old->at(i);
      bigger->at(i).store(from.task.load(std::memory_order_relaxed),
                          from.tag.load(std::memory_order_relaxed));
    }
    ring* fresh = bigger.get();
    // Thieves may still be reading the old ring: it is kept until the deque is destroyed. Growth
    // doubles, so the retired rings together never take more than the live one.
    retired_.push_back(std::move(bigger));
    ring_.store(fresh, std::memory_order_release);
    return fresh;
  }

  // top_ and bottom_ on separate cache lines: thieves hammer top_, the owner bottom_.
  alignas(64) std::atomic<std::int64_t> top_{0};
  alignas(64) std::atomic<std::int64_t> bottom_{0};
  alignas(64) std::atomic<ring*> ring_;
  std::vector<std::unique_ptr<ring>> retired_;  // owner only; includes the live ring
  std::int64_t top_seen_ = 0;                   // owner only: a value top_ had (see push)
};

}  // namespace weft::detail
