// weft/detail/job.hpp
//
// The units the scheduler moves around. A `task` is one function pointer: no virtual call, no
// std::function, no allocation of its own. Two kinds exist:
//  - heap_job: owns a callable and frees itself after running (submit, task_group::run);
//  - stack_job: lives on the frame of the thread that forked it (join), and signals a latch when a
//    thief has run it, so that the frame can safely end.
// An offer_ticket carries a stack_job from a thread outside the pool into the injection queue, so
// that the caller can take the call back if no worker has started it (see run_as_participant).
// Heap jobs take their memory from a job_cache of the participant that makes them, and give it
// back to that cache wherever they run (see job_cache).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
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

struct participant;  // thread_pool.hpp

// The participant the calling thread is acting as, if any (of whichever pool).
inline thread_local participant* current_participant = nullptr;

class job_cache;

// The header in front of every heap job's memory: where the block goes back to.
struct alignas(16) job_block {
  job_cache* home;  // null: plain operator new, plain operator delete
  job_block* next;  // while the block is free

  static job_block* make(std::size_t bytes) {
    return static_cast<job_block*>(::operator new (bytes, std::align_val_t{alignof(job_block)}));
  }
  static void free(job_block* b) noexcept {
    ::operator delete (b, std::align_val_t{alignof(job_block)});
  }
};

// The free blocks of one size of one participant. Why: a task from outside the pool is made on
// one thread and run, then freed, on another. malloc serves that badly (the freeing thread takes
// the lock of the allocating thread's arena, and the allocating thread's cache runs dry): a third
// of the time of a million tiny tasks went there. Here a block goes back to the cache it came
// from: onto its local list when the participant that frees it is the owner, else onto the
// `returned` stack, which the owner takes whole (one exchange) when its local list is empty.
//
// Only the thread acting as `owner` (a worker, or the thread holding a caller slot) touches the
// local list. `returned` is pushed by any thread (CAS, release) and emptied only by the owner
// (exchange, acquire): a stack that is only ever taken whole has no ABA problem.
//
// The cache counts the blocks it owns (made and not yet freed: free, in flight or returned), on the
// owner's thread alone. When the owner has nothing to do (a worker about to park, a thread giving
// its caller slot back), trim() frees free blocks until at most `keep` are owned, so that a burst
// of a million tasks does not stay cached for the life of the pool. Not while it works: a block is
// never freed on the way to being reused, and the returned stack is never walked to count it (a
// chain of cache misses, each block last written by the thread that ran its job: that walk took
// two thirds of the allocation's time with tasks from outside).
class job_cache {
 public:
  static constexpr std::size_t keep = 4096;

  job_cache() = default;
  job_cache(const job_cache&) = delete;
  job_cache& operator=(const job_cache&) = delete;
  ~job_cache() {  // the pool has finished every task: no block is in flight
    free_list(local_);
    free_list(returned_.load(std::memory_order_acquire));
  }

  void set_owner(const participant* owner) noexcept { owner_ = owner; }
  // Blocks made and not freed (free, in flight or returned). On the owner's thread only.
  std::size_t owned() const noexcept { return owned_; }

  // On the owner's thread only. `block_bytes` is this cache's size (job_caches::sizes).
  job_block* allocate(std::size_t block_bytes) {
    if (local_ == nullptr) local_ = returned_.exchange(nullptr, std::memory_order_acquire);
    if (job_block* b = local_) {
      local_ = b->next;
      // The next block's line is likely in the cache of the thread that ran its job: start moving
      // it here now, for the next allocation, which will write the job into it.
      if (local_ != nullptr) __builtin_prefetch(local_, 1);
      return b;
    }
    job_block* b = job_block::make(block_bytes);
    b->home = this;
    ++owned_;
    return b;
  }

  // On any thread.
  static void release(job_block* b) noexcept {
    job_cache* home = b->home;
    if (home == nullptr) {
      job_block::free(b);
    } else if (home->owner_ == current_participant) {
      b->next = home->local_;
      home->local_ = b;
    } else {
      job_block* head = home->returned_.load(std::memory_order_relaxed);
      do {
        b->next = head;
      } while (!home->returned_.compare_exchange_weak(head, b, std::memory_order_release,
                                                      std::memory_order_relaxed));
    }
  }

  // On the owner's thread only, when it is idle: frees free blocks while more than `keep` are
  // owned. Cheap when there is nothing to give back. The local list goes first; the returned
  // stack is taken only if that was not enough (the local list is empty then) and becomes the new
  // local list, so no block is visited that is not freed.
  void trim() noexcept {
    free_surplus(local_);
    if (owned_ > keep) {
      local_ = returned_.exchange(nullptr, std::memory_order_acquire);
      free_surplus(local_);
    }
  }

 private:
  void free_surplus(job_block*& list) noexcept {
    while (list != nullptr && owned_ > keep) {
      job_block* b = list;
      list = b->next;
      --owned_;
      job_block::free(b);
    }
  }
  static void free_list(job_block* b) noexcept {
    while (b != nullptr) {
      job_block* next = b->next;
      job_block::free(b);
      b = next;
    }
  }

  // Three lines: owner_ is read by every thread that frees a block, and would miss on every free
  // if it shared a line with local_ and owned_, which the owner writes on every allocation; the
  // returned stack is written by those other threads.
  const participant* owner_ = nullptr;
  alignas(64) job_block* local_ = nullptr;
  std::size_t owned_ = 0;
  alignas(64) std::atomic<job_block*> returned_{nullptr};
};

// A participant's caches, one per block size. Jobs too large (or over-aligned) for the largest
// use operator new directly.
struct job_caches {
  static constexpr std::size_t sizes[] = {64, 128, 256};
  job_cache by_size[std::size(sizes)];

  void set_owner(const participant* owner) noexcept {
    for (job_cache& cache : by_size) cache.set_owner(owner);
  }
  void trim() noexcept {  // see job_cache::trim
    for (job_cache& cache : by_size) cache.trim();
  }
  // The cache for a job of `bytes` (a compile-time size), or std::size(sizes) if none fits.
  static constexpr std::size_t size_index(std::size_t bytes) noexcept {
    std::size_t i = 0;
    while (i < std::size(sizes) && sizeof(job_block) + bytes > sizes[i]) ++i;
    return i;
  }
  // Memory for a job of `Bytes` after a job_block header, from `caches` when given (on its
  // owner's thread).
  template <std::size_t Bytes>
  static void* allocate(job_caches* caches) {
    constexpr std::size_t index = size_index(Bytes);
    if constexpr (index < std::size(sizes)) {
      if (caches != nullptr) return caches->by_size[index].allocate(sizes[index]) + 1;
    }
    job_block* b = job_block::make(sizeof(job_block) + Bytes);
    b->home = nullptr;
    return b + 1;
  }
  static void release(void* memory) noexcept {
    job_cache::release(static_cast<job_block*>(memory) - 1);
  }
};

// Runs a callable once and frees itself. An over-aligned callable gets plain new and delete.
template <class F>
struct heap_job final : task {
  static constexpr bool from_cache = alignof(F) <= alignof(job_block);

  explicit heap_job(F&& f) : task(&run), function(std::move(f)) {}
  static void run(task* self) noexcept {
    auto* job = static_cast<heap_job*>(self);
    job->function();  // the callable is responsible for its own exceptions
    destroy(job);
  }
  static void destroy(heap_job* job) noexcept {
    if constexpr (from_cache) {
      job->~heap_job();
      job_caches::release(job);
    } else {
      delete job;
    }
  }
  F function;
};

template <class F>
struct heap_job_deleter {
  void operator()(heap_job<F>* job) const noexcept { heap_job<F>::destroy(job); }
};

template <class F>
using heap_job_ptr = std::unique_ptr<heap_job<F>, heap_job_deleter<F>>;

// Owned by the caller until the scheduler accepts it (spawn may throw). `caches`: those of the
// participant the calling thread acts as (or holds), else null.
template <class F>
heap_job_ptr<std::decay_t<F>> make_heap_job(F&& f, job_caches* caches) {
  using job = heap_job<std::decay_t<F>>;
  if constexpr (!job::from_cache) {
    return heap_job_ptr<std::decay_t<F>>(new job(std::forward<F>(f)));
  } else {
    void* memory = job_caches::allocate<sizeof(job)>(caches);
    try {
      return heap_job_ptr<std::decay_t<F>>(::new (memory) job(std::forward<F>(f)));
    } catch (...) {
      job_caches::release(memory);
      throw;
    }
  }
}

// Where threads that are not participants of a pool sleep while they wait for it (see latch).
// One word per pool; every waiter outside re-checks its own condition when it changes.
//
// `woken` counts callers whose offered call has ended and who have not run since: the caller of
// a primitive is then runnable but queued behind a worker on a CPU (with one worker per CPU, it
// always is), and its call returns only when that worker lets it run. Idle and waiting
// participants look at the count and yield instead of pausing while it is positive (see
// scheduler::backoff). The count may dip to -1 for a moment (the caller can see its latch set
// before the setter has counted it), which reads as "nobody": a hint, never a lock.
struct outside_waiters {
  std::atomic<std::uint32_t> epoch{0};
  std::atomic<std::int32_t> woken{0};
  void wake_all() noexcept {
    epoch.fetch_add(1, std::memory_order_release);
    epoch.notify_all();
  }
  bool someone_woken() const noexcept { return woken.load(std::memory_order_relaxed) > 0; }
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
    else if (previous == outsider_asleep) {
      outside->woken.fetch_add(1, std::memory_order_relaxed);
      outside->wake_all();
    }
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
    bool marked = false;
    for (;;) {
      const std::uint32_t epoch = outside_->epoch.load(std::memory_order_acquire);
      std::uint32_t current = state_.load(std::memory_order_acquire);
      if (current == done) break;
      if (current != outsider_asleep &&
          !state_.compare_exchange_strong(current, outsider_asleep, std::memory_order_acq_rel,
                                          std::memory_order_acquire))
        continue;
      marked = true;
      outside_->epoch.wait(epoch, std::memory_order_acquire);
    }
    // Only set() moves the word on from outsider_asleep, so it saw the mark and counted this
    // caller in `woken` once; running again, the caller takes itself out.
    if (marked) outside_->woken.fetch_sub(1, std::memory_order_relaxed);
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

// A call from a thread outside the pool, offered to the workers. Exactly one of a worker and the
// caller claims it and runs `call`; the other side only lets go. The caller may return while the
// ticket still waits in the injection queue (it took the call back), so the ticket lives on the
// heap and the second of the two to let go frees it.
struct offer_ticket final : task {
  explicit offer_ticket(task* offered) noexcept : task(&run), call(offered) {}

  static void run(task* self) noexcept {
    auto* ticket = static_cast<offer_ticket*>(self);
    if (ticket->claim()) ticket->call->execute(ticket->call);
    ticket->let_go();
  }

  // True for whichever side asks first. acq_rel: the winner's reads of the call happen after the
  // caller made it (published before the ticket was injected, under the injection lock).
  bool claim() noexcept { return !claimed.exchange(true, std::memory_order_acq_rel); }
  // A hint for the caller's spin only; claim() decides.
  bool started() const noexcept { return claimed.load(std::memory_order_relaxed); }
  void let_go() noexcept {
    if (holders.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  task* call;
  std::atomic<bool> claimed{false};
  std::atomic<int> holders{2};  // the queue (then the worker that runs the ticket) and the caller
};

}  // namespace weft::detail
