// weft/thread_pool.hpp
//
// The work-stealing scheduler and the pool that owns it. Everything about how tasks move lives
// here: the participants and their deques, the injection queue for tasks from outside, the steal
// loop, the helping wait, and idle parking. docs/design.md tells the story; this file is the code.
//
// Participants. Each worker thread owns a deque. A pool also has a few caller slots: a thread from
// outside that calls a primitive (parallel_for, join, ...) takes a slot, runs its share of the
// work at once on its own thread, and gives the slot back when the call returns. Everyone steals
// from everyone's deque.
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "detail/job.hpp"
#include "detail/parking.hpp"
#include "detail/work_stealing_deque.hpp"

namespace weft {

class thread_pool;

namespace detail {

class scheduler;

struct alignas(64) participant {
  work_stealing_deque<task> deque;
  scheduler* owner = nullptr;
  std::size_t index = 0;
  std::uint64_t random_state = 0;   // victim selection; only this participant touches it
  const void* isolation = nullptr;  // non-null inside weft::isolate: run only tasks with this tag
  std::atomic<bool> taken{false};   // caller slots only: held by a thread from outside
  std::atomic<bool> asleep_idle{false};  // workers: parked with nothing to do (a hint)
  std::atomic<bool> aside{false};        // workers: standing aside for a caller (see enter_call)
  std::atomic<std::int64_t> steal_after{0};  // caller slots: not stolen from before (steady ticks)
  job_caches caches;                         // memory for the heap jobs this participant makes

  std::size_t next_random(std::size_t bound) noexcept {  // xorshift64*: cheap and good enough
    random_state ^= random_state >> 12;
    random_state ^= random_state << 25;
    random_state ^= random_state >> 27;
    return static_cast<std::size_t>((random_state * 0x2545F4914F6CDD1DULL) >> 32) % bound;
  }
  bool may_run(const void* tag) const noexcept { return isolation == nullptr || tag == isolation; }
};

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Reads WEFT_NUM_THREADS; nullopt unless it holds a positive decimal integer.
inline std::optional<std::size_t> thread_count_from_environment() {
  const char* text = std::getenv("WEFT_NUM_THREADS");
  if (text == nullptr) return std::nullopt;
  std::string_view view(text);
  std::size_t value = 0;
  auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (error != std::errc{} || end != view.data() + view.size() || value == 0) return std::nullopt;
  return value;
}

inline std::size_t cpus_available() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<std::size_t>(count);
  }
#endif
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

// A lock for critical sections of a few instructions (the injection queue): spinning beats
// putting the thread to sleep in the kernel, which std::mutex does under contention.
class spin_lock {
 public:
  void lock() noexcept {
    unsigned spins = 0;
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          spin_pause();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

class scheduler {
 public:
  static constexpr std::size_t caller_slots = 4;

  explicit scheduler(std::size_t workers)
      : workers_(workers),
        participants_(workers + caller_slots),
        callers_displace_workers_(workers >= cpus_available()),
        parking_(workers + caller_slots),
        slots_(new participant[workers + caller_slots]) {
    asymmetric_fence::set_up();
    for (std::size_t i = 0; i < participants_; ++i) {
      slots_[i].owner = this;
      slots_[i].index = i;
      slots_[i].random_state = 0x9E3779B97F4A7C15ULL * (i + 1);
      slots_[i].caches.set_owner(&slots_[i]);
    }
    threads_.reserve(workers);
    try {
      for (std::size_t i = 0; i < workers; ++i)
        threads_.emplace_back([this, i] {
          started_.fetch_add(1, std::memory_order_release);
          worker_main(slots_[i]);
        });
    } catch (...) {
      shut_down();  // joins the threads that did start, so none leaks
      throw;
    }
    // The pool is ready when its workers run: a call offered right away (a driver installed at
    // the start of main) would otherwise find no worker yet, be taken back by the caller after
    // offer_take_back_after, and then run beside every worker, one thread more than CPUs for the
    // whole of it. Yielding lets the new threads have the CPU meanwhile.
    while (started_.load(std::memory_order_acquire) < workers) std::this_thread::yield();
  }

  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;
  ~scheduler() { shut_down(); }

  std::size_t workers() const noexcept { return workers_; }
  std::size_t participants() const noexcept { return participants_; }

  // Whether a thread from outside that runs a call takes the place of a worker, which stands
  // aside meanwhile: true when the workers alone can keep every CPU busy (see enter_call).
  bool callers_displace_workers() const noexcept { return callers_displace_workers_; }

  // Calls from outside running now, and workers standing aside for them (hints, for tests).
  std::size_t callers_running() const noexcept {
    return callers_running_.load(std::memory_order_relaxed);
  }
  std::size_t standing_aside() const noexcept { return aside_.load(std::memory_order_relaxed); }

  // The calling thread's participant in this pool, or null.
  participant* current() const noexcept {
    participant* me = current_participant;
    return me != nullptr && me->owner == this ? me : nullptr;
  }

  parking_lot& parking() noexcept { return parking_; }
  outside_waiters& outside() noexcept { return outside_; }

  // A task from inside goes to the spawning participant's deque, from outside to the injection
  // queue. Throws std::logic_error if the pool is being destroyed and the task comes from outside.
  void spawn(task* t) {
    if (participant* me = current()) {
      push(*me, t);
    } else {
      inject(t);
    }
  }

  void push(participant& me, task* t) {
    me.deque.push(t, me.isolation);
    // No fence here (this is the hot path of join). If a thread parks just as we push and misses
    // the task, nothing is lost: the task is in our own deque, and we run it ourselves if nobody
    // steals it. Only tasks from outside need the strict protocol (see inject).
    if (searching_.load(std::memory_order_relaxed) == 0 && anyone_to_wake()) wake_one();
  }

  // A task that a thread outside the pool pushes onto the caller slot it holds between calls (see
  // task_group::run). Unlike push() from inside, nobody is bound to come back for it soon: the
  // thread may go on to block on something else. So the push (the store of the deque's bottom) and
  // the loads of who searches or is parked are ordered by the light half of asymmetric_fence,
  // against the parker's announce, heavy half and re-check (steal's load of bottom). Of "we see the
  // parker" and "the parker sees the task", at least one holds.
  void push_from_outside(participant& slot, task* t) {
    slot.deque.push(t, nullptr);
    asymmetric_fence::light();
    if (searching_.load(std::memory_order_seq_cst) == 0) wake_one();
  }

  void inject(task* t) {
    {
      std::lock_guard lock(injection_lock_);
      if (closed_)
        throw std::logic_error(
            "weft::thread_pool: task submitted while the pool is being destroyed");
      injected_.push_back(t);
      // seq_cst store, then seq_cst loads of who is searching or parked: the other half of the
      // store-load pair whose first half is parking_lot::prepare + the re-check in take_injected.
      injected_count_.store(injected_.size(), std::memory_order_seq_cst);
    }
    if (searching_.load(std::memory_order_seq_cst) == 0) wake_one();
  }

  // Wakes a worker for new work: one parked in the mask, or else one standing aside for callers
  // that have left (see leave_call).
  void wake_one() noexcept {
    if (!parking_.wake_one()) wake_surplus_aside();
  }
  // Whether wake_one would find somebody (relaxed hints, for the hot paths).
  bool anyone_to_wake() const noexcept { return parking_.anyone_parked() || surplus_aside(); }

  using found = work_stealing_deque<task>::taken;

  // A thread from outside starts running a call on a caller slot, in a pool with a worker per
  // CPU: one worker stands aside (sleeps) for as long as it runs, so that the threads running
  // never outnumber the CPUs. Usually there is nothing to do: the worker that stood aside for the
  // previous call is still asleep, and this call takes over its place. Otherwise a worker asleep
  // in the idle loop is taken out of the parking mask where it lies, with no wake-up; failing
  // that, the first worker to run out of work stands aside (see stand_aside).
  //
  // The sleeper is taken before the caller is counted: counted first, the caller would have a
  // searching worker see the quota exceeded and park, while the sleeper stayed in the mask to be
  // woken by the call's first push (the two would swap roles on every call, a wake-up each time).
  void enter_call() noexcept {
    if (aside_.load(std::memory_order_relaxed) <= callers_running_.load(std::memory_order_relaxed))
      for (std::size_t i = 0; i < workers_; ++i) {
        participant& worker = slots_[i];
        if (worker.asleep_idle.load(std::memory_order_relaxed) && parking_.claim(i)) {
          aside_.fetch_add(1, std::memory_order_seq_cst);
          worker.aside.store(true, std::memory_order_seq_cst);
          break;
        }
      }
    callers_running_.fetch_add(1, std::memory_order_seq_cst);
  }

  // The call has returned. The worker that stood aside for it stays asleep, out of the mask, as a
  // surplus: the next call from outside takes its place over, and the next wake-up for new work
  // takes it (wake_one). Waking it here would cost every call from outside a system call (30-60
  // us on a virtual machine) for work that may never come.
  //
  // Pushes made during the call woke nobody for it, though, and their pusher may not come back
  // to them: a task blocked in a plain wait (a future's get, a lock) on a task it pushed, or the
  // caller's own deque, left behind. So unless a worker is searching (it finds such work, and the
  // last searcher to find some wakes a sleeper), look at every deque and the injection queue,
  // as a parker does before it sleeps: a few loads of lines that are usually in our cache.
  void leave_call() noexcept {
    callers_running_.fetch_sub(1, std::memory_order_seq_cst);
    if (searching_.load(std::memory_order_seq_cst) == 0 && work_visible()) wake_one();
  }

  // Whether any deque or the injection queue holds a task (a hint, like looks_empty).
  bool work_visible() const noexcept {
    if (injected_count_.load(std::memory_order_seq_cst) != 0) return true;
    for (std::size_t i = 0; i < participants_; ++i)
      if (!slots_[i].deque.looks_empty()) return true;
    return false;
  }

  // True once the pool's destructor has begun.
  bool closing() const noexcept { return stopping_.load(std::memory_order_relaxed); }

  // Runs a task as a member of the isolated region it was spawned in, if any: what it spawns
  // carries the region's tag, and while it waits it runs only the region's tasks.
  void execute(participant& me, found work) noexcept {
    if (work.tag == nullptr || work.tag == me.isolation) {
      work.task->execute(work.task);
      return;
    }
    const void* outside = me.isolation;
    me.isolation = work.tag;
    work.task->execute(work.task);
    me.isolation = outside;
  }

  found pop_local(participant& me) noexcept {
    return me.deque.pop([&](const void* tag) { return me.may_run(tag); });
  }

  // Own deque, then a steal from a random victim onwards, then the injection queue.
  found find_task(participant& me) noexcept {
    if (found work = pop_local(me); work.task != nullptr) return work;
    const std::size_t start = me.next_random(participants_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool contended = false;
      std::int64_t now = 0;
      for (std::size_t k = 0; k < participants_; ++k) {
        participant& victim = slots_[(start + k) % participants_];
        if (&victim == &me) continue;
        // A call from outside keeps its first microseconds to itself (see running_call); the
        // first thief to find them over clears the mark, so later steals read no clock.
        if (victim.index >= workers_ && !victim.deque.looks_empty()) {
          std::int64_t after = victim.steal_after.load(std::memory_order_relaxed);
          if (after != 0) {
            if (now == 0) now = std::chrono::steady_clock::now().time_since_epoch().count();
            if (now < after) continue;
            victim.steal_after.compare_exchange_strong(after, 0, std::memory_order_relaxed);
          }
        }
        found work = victim.deque.steal([&](const void* tag) { return me.may_run(tag); });
        if (work.task != nullptr) return work;
        contended |= work.contended;
      }
      if (!contended) break;
    }
    if (me.isolation == nullptr) return {take_injected(me), nullptr, false};
    return {};
  }

  // The helping wait: run other tasks until `waitable.ready()`. Used by join, task_group::wait and
  // every primitive, so a waiting thread never idles while there is work, and never needs another
  // thread to make progress. `waitable` also has register_sleeper(participant index), which
  // returns false if it became ready (see latch).
  template <class Waitable>
  void help_until(participant& me, Waitable& waitable) {
    for (;;) {
      for (unsigned round = 0; round < spin_rounds;) {
        if (waitable.ready()) return;
        if (found work = find_task(me); work.task != nullptr) {
          execute(me, work);
          round = 0;
          continue;
        }
        backoff(round++);
      }
      const bool open_to_work = me.isolation == nullptr;
      parking_.prepare(me.index, open_to_work);
      if (!waitable.register_sleeper(me.index)) {
        parking_.cancel(me.index);
        return;
      }
      if (open_to_work) asymmetric_fence::heavy();  // see push_from_outside
      if (found work = find_task(me); work.task != nullptr) {
        parking_.cancel(me.index);
        execute(me, work);
        continue;
      }
      parking_.park(me.index);
      parking_.cancel(me.index);
    }
  }

  // A free caller slot, marked taken, or null if all are in use.
  participant* acquire_caller_slot() noexcept {
    for (std::size_t i = workers_; i < participants_; ++i) {
      participant& slot = slots_[i];
      if (!slot.taken.load(std::memory_order_relaxed) &&
          !slot.taken.exchange(true, std::memory_order_acquire))
        return &slot;
    }
    return nullptr;
  }
  void release_caller_slot(participant& slot) noexcept {
    slot.isolation = nullptr;
    slot.taken.store(false, std::memory_order_release);
  }

  // Finishes what was submitted, then joins the workers. Idempotent.
  void shut_down() noexcept {
    {
      std::lock_guard lock(injection_lock_);
      closed_ = true;
    }
    stopping_.store(true, std::memory_order_seq_cst);
    parking_.wake_all(participants_);
    for (auto& thread : threads_)
      if (thread.joinable()) thread.join();
    threads_.clear();
  }

 private:
  static constexpr unsigned spin_rounds = 64;
  static constexpr std::size_t injection_batch = 32;

  // Pauses first (a task pushed in a moment is found within nanoseconds), then yields. A caller
  // outside whose call has just ended is queued behind one of us and runs only once its CPU is
  // given up: then yield at once. Waiting for the pauses cost it 5-10 us per call (a call of 128
  // chunks of 1 us returned 12 us after its last chunk instead of 5; fib(30) with a cutoff, 1 ms
  // a call, ran 1.5 % faster relative to oneTBB).
  void backoff(unsigned round) noexcept {
    if (round < 16 && !outside_.someone_woken()) {
      for (unsigned i = 0; i < (1u << (round / 2)); ++i) spin_pause();
    } else {
      std::this_thread::yield();
    }
  }

  // Takes the oldest injected task to run, and a batch of the following ones into the caller's
  // deque, where others can steal them: one lock round trip per batch rather than per task.
  task* take_injected(participant& me) noexcept {
    // seq_cst: this load is the re-check of the parking protocol (see inject).
    if (injected_count_.load(std::memory_order_seq_cst) == 0) return nullptr;
    task* first = nullptr;
    std::size_t batched = 0;
    {
      std::lock_guard lock(injection_lock_);
      if (injected_.empty()) return nullptr;
      first = injected_.front();
      injected_.pop_front();
      const std::size_t batch = std::min<std::size_t>(injected_.size() / 2, injection_batch);
      for (; batched < batch; ++batched) {
        me.deque.push(injected_.front(), nullptr);
        injected_.pop_front();
      }
      injected_count_.store(injected_.size(), std::memory_order_relaxed);
    }
    if (batched > 0 && searching_.load(std::memory_order_relaxed) == 0 && anyone_to_wake())
      wake_one();
    return first;
  }

  // Standing aside. A worker stands aside by taking a place in aside_ with a CAS, only while the
  // places are fewer than the callers running (or, in enter_call, on behalf of a sleeper), and
  // then setting its `aside` flag. Whoever turns the flag from true to false gives the place back,
  // exactly once: the worker itself on waking, or a waker that takes a surplus worker for new work
  // (wake_surplus_aside). Callers leave without touching it, so aside_ may exceed callers_running_
  // for a while: those workers sleep until work or a new caller comes.
  bool over_quota() const noexcept {
    return callers_running_.load(std::memory_order_relaxed) >
           aside_.load(std::memory_order_relaxed);
  }
  bool claim_aside_place() noexcept {
    std::size_t aside = aside_.load(std::memory_order_relaxed);
    do {
      if (aside >= callers_running_.load(std::memory_order_relaxed)) return false;
    } while (!aside_.compare_exchange_weak(aside, aside + 1, std::memory_order_seq_cst,
                                           std::memory_order_relaxed));
    return true;
  }
  // More workers aside than callers running: callers have left, and their workers still sleep.
  bool surplus_aside() const noexcept {
    return aside_.load(std::memory_order_relaxed) >
           callers_running_.load(std::memory_order_relaxed);
  }
  void wake_surplus_aside() noexcept {
    if (aside_.load(std::memory_order_seq_cst) <= callers_running_.load(std::memory_order_seq_cst))
      return;
    for (std::size_t i = 0; i < workers_; ++i) {
      participant& worker = slots_[i];
      if (worker.aside.load(std::memory_order_relaxed) &&
          worker.aside.exchange(false, std::memory_order_seq_cst)) {
        aside_.fetch_sub(1, std::memory_order_seq_cst);
        parking_.wake(i);
        return;
      }
    }
  }
  void drop_aside(participant& me) noexcept {
    if (me.aside.load(std::memory_order_relaxed) &&
        me.aside.exchange(false, std::memory_order_seq_cst))
      aside_.fetch_sub(1, std::memory_order_seq_cst);
  }
  // Out of an idle sleep, or out of the steps before it: leave the mask, stop counting as asleep
  // (enter_call looks for such sleepers) and give back a place aside, if enter_call gave one.
  void leave_idle_sleep(participant& me) noexcept {
    parking_.cancel(me.index);
    me.asleep_idle.store(false, std::memory_order_relaxed);
    drop_aside(me);
  }

  // A searching worker over the quota sleeps out of the parking mask, so that the pushes of the
  // running threads do not wake it. Work in deques is left to the threads that run: each runs
  // what it pushed if nobody steals it. Returns whether it slept.
  bool stand_aside(participant& me) {
    if (!claim_aside_place()) return false;
    // Announce the sleep before the flag: a waker that takes the flag wakes the worker at once,
    // and the wake must find the sleep announced (or be lost).
    me.asleep_idle.store(true, std::memory_order_relaxed);
    parking_.prepare(me.index, /*open_to_work=*/false);
    me.aside.store(true, std::memory_order_seq_cst);
    searching_.fetch_sub(1, std::memory_order_seq_cst);
    // A task from outside goes first: the injector may have seen this worker still searching and
    // woken nobody (seq_cst: its store of the count, then its load of searching_).
    bool slept = false;
    if (injected_count_.load(std::memory_order_seq_cst) == 0 &&
        !stopping_.load(std::memory_order_seq_cst) &&
        aside_.load(std::memory_order_seq_cst) <=
            callers_running_.load(std::memory_order_seq_cst) &&
        me.aside.load(std::memory_order_seq_cst)) {
      parking_.park(me.index);
      slept = true;
    }
    leave_idle_sleep(me);
    searching_.fetch_add(1, std::memory_order_seq_cst);
    return slept;
  }

  void worker_main(participant& me) {
    current_participant = &me;
    for (found work = next_task(me); work.task != nullptr; work = next_task(me)) execute(me, work);
    current_participant = nullptr;
  }

  // The idle loop: look for work, spin a little, then park. Returns null once the pool is shutting
  // down and no task is left to find.
  found next_task(participant& me) {
    drop_aside(me);  // taken as asleep by enter_call just as it found work instead
    if (found work = pop_local(me); work.task != nullptr) return work;
    // One look around before joining the searchers: a worker that finds work at once (the common
    // case while tasks stream in) then writes searching_ not at all, instead of twice per task, and
    // every push reads it. Not being counted meanwhile only makes a pusher wake a sleeper it might
    // have left asleep: never a lost wake-up.
    if (!over_quota())
      if (found work = find_task(me); work.task != nullptr) return work;
    searching_.fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
      for (unsigned round = 0; round < spin_rounds; ++round) {
        if (over_quota() && stand_aside(me)) round = 0;
        if (found work = find_task(me); work.task != nullptr) return found_while_searching(work);
        backoff(round);
      }
      // Leave the searchers before announcing the park: a thread that publishes work and sees
      // no searcher then finds this one in the mask (see inject).
      searching_.fetch_sub(1, std::memory_order_seq_cst);
      me.caches.trim();  // nothing to do: a good moment to give back what a burst left cached
      me.asleep_idle.store(true, std::memory_order_relaxed);
      parking_.prepare(me.index, /*open_to_work=*/true);
      asymmetric_fence::heavy();  // see push_from_outside
      if (found work = find_task(me); work.task != nullptr) {
        leave_idle_sleep(me);
        return work;
      }
      if (stopping_.load(std::memory_order_seq_cst)) {
        leave_idle_sleep(me);
        return find_task(me);  // null unless a task arrived just now
      }
      parking_.park(me.index);
      leave_idle_sleep(me);
      searching_.fetch_add(1, std::memory_order_seq_cst);
    }
  }

  // While anybody is busy, keep one thief awake: the last searcher to find work wakes a sleeper,
  // which either finds more work (and passes the baton on) or parks again.
  found found_while_searching(found work) noexcept {
    if (searching_.fetch_sub(1, std::memory_order_acq_rel) == 1 && anyone_to_wake()) wake_one();
    return work;
  }

  const std::size_t workers_;
  const std::size_t participants_;
  const bool callers_displace_workers_;
  parking_lot parking_;
  outside_waiters outside_;
  std::unique_ptr<participant[]> slots_;

  alignas(64) std::atomic<std::size_t> searching_{0};
  alignas(64) std::atomic<std::size_t> callers_running_{0};  // see enter_call
  std::atomic<std::size_t> aside_{0};                        // workers standing aside
  alignas(64) std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> started_{0};  // workers that have begun to run (the constructor waits)

  alignas(64) spin_lock injection_lock_;
  std::deque<task*> injected_;
  std::atomic<std::size_t> injected_count_{0};
  bool closed_ = false;

  std::vector<std::thread> threads_;
};

// Makes the calling thread act as `slot` for as long as it lives, then gives the slot back
// (unless told to keep it: a task_group holds one across calls, see task_group::run).
class caller_slot_guard {
 public:
  caller_slot_guard(scheduler& pool, participant& slot, bool release = true) noexcept
      : pool_(pool), slot_(slot), previous_(current_participant), release_(release) {
    current_participant = &slot;
  }
  ~caller_slot_guard() {
    slot_.caches.trim();  // still on the thread acting as the slot, its caches' owner
    current_participant = previous_;
    if (release_) pool_.release_caller_slot(slot_);
  }
  caller_slot_guard(const caller_slot_guard&) = delete;
  caller_slot_guard& operator=(const caller_slot_guard&) = delete;

 private:
  scheduler& pool_;
  participant& slot_;
  participant* previous_;
  bool release_;
};

// Its address tells threads apart, more cheaply than std::this_thread::get_id().
inline thread_local const char this_thread_token = 0;

}  // namespace detail

class thread_pool {
 public:
  // One worker per CPU this process may run on, or WEFT_NUM_THREADS if that is a positive integer.
  thread_pool() : thread_pool(default_size()) {}

  explicit thread_pool(std::size_t workers) : core_(make_core(workers)) {}

  // Finishes every task already submitted (and those they submit), then joins the workers. The
  // scheduler stays in place meanwhile: running tasks may still submit to this pool.
  ~thread_pool() { core_->shut_down(); }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  std::size_t size() const noexcept { return core_->workers(); }

  // Workers plus caller slots: every thread that runs this pool's work has a distinct
  // participant_index() below this bound, so per-thread scratch space can be an array.
  std::size_t max_participants() const noexcept { return core_->participants(); }

  // The calling thread's index in [0, max_participants()) while it runs this pool's work (workers
  // have [0, size())), nullopt otherwise.
  std::optional<std::size_t> participant_index() const noexcept {
    if (const detail::participant* me = core_->current()) return me->index;
    return std::nullopt;
  }

  // Runs `f(args...)` on the pool, like std::async: the callable and the arguments are decayed
  // and copied (or moved), called with std::invoke, and the result or exception goes to the future.
  template <class F, class... Args>
    requires(std::invocable<std::decay_t<F>, std::decay_t<Args>...>)
  auto submit(F&& f, Args&&... args)
      -> std::future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> {
    using result = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
    std::promise<result> promise;
    std::future<result> future = promise.get_future();
    auto body = [promise = std::move(promise), f = std::forward<F>(f),
                 arguments = std::make_tuple(std::forward<Args>(args)...)]() mutable {
      try {
        if constexpr (std::is_void_v<result>) {
          std::apply(std::move(f), std::move(arguments));
          promise.set_value();
        } else {
          promise.set_value(std::apply(std::move(f), std::move(arguments)));
        }
      } catch (...) {
        promise.set_exception(std::current_exception());
      }
    };
    detail::participant* me = core_->current();
    auto job = detail::make_heap_job(std::move(body), me != nullptr ? &me->caches : nullptr);
    core_->spawn(job.get());  // may throw: then the job is freed here
    job.release();
    return future;
  }

  // Internal: the scheduler behind the pool, for weft's own headers.
  detail::scheduler& core() noexcept { return *core_; }

 private:
  static std::size_t default_size() {
    if (auto from_environment = detail::thread_count_from_environment()) return *from_environment;
    return detail::cpus_available();
  }
  static std::unique_ptr<detail::scheduler> make_core(std::size_t workers) {
    if (workers == 0)
      throw std::invalid_argument("weft::thread_pool: workers must be at least 1 (got 0)");
    return std::make_unique<detail::scheduler>(workers);
  }

  std::unique_ptr<detail::scheduler> core_;
};

// The number of workers thread_pool() and default_pool() use.
inline std::size_t default_thread_count() {
  if (auto from_environment = detail::thread_count_from_environment()) return *from_environment;
  return detail::cpus_available();
}

// The process-wide pool behind every overload without a pool argument. Created on first use; its
// destructor runs at exit and finishes what was submitted.
inline thread_pool& default_pool() {
  static thread_pool pool;
  return pool;
}

namespace detail {

// How long a caller outside the pool waits for a worker to start the call it offered before it
// takes the call back, and how long it spins on the call's end before it sleeps. The second is
// short on purpose: about what a 1,000-element loop takes. A caller spinning longer shares a CPU
// with a worker of its own call and delays it (300 reductions over 40,000 items, 2 CPUs: 9 %
// slower with a 20 us spin than with 2 us, and 1,000-element loops no faster); a longer call is
// better served by sleeping, whose wake-up costs a few microseconds once.
inline constexpr std::chrono::microseconds offer_take_back_after{100};
inline constexpr std::chrono::microseconds offer_spin_for_end{2};

template <class Done>
bool spin_until(Done done, std::chrono::microseconds limit) noexcept {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      if (done()) return true;
      spin_pause();
    }
    if (std::chrono::steady_clock::now() >= until) return done();
  }
}

// Counts a call from outside as running for as long as it lives, in a pool whose callers take a
// worker's place (see scheduler::enter_call). Its first share_after microseconds belong to the
// caller alone: thieves leave its deque be until then. A call that ends sooner was not worth a
// second CPU: shared at once, 1,000-element loops took 4-5 us a call on the 2-CPU VM (the
// awake worker took about a tenth of each call from another CPU, and the caller waited for its
// hand-back), against 1.7-2.3 us this way; a long call starts its second thread 2 us later.
inline constexpr std::chrono::microseconds share_after{2};

class running_call {
 public:
  running_call(scheduler& core, participant& slot) noexcept
      : core_(core.callers_displace_workers() ? &core : nullptr), slot_(slot) {
    if (core_ != nullptr) {
      core_->enter_call();
      slot.steal_after.store(
          (std::chrono::steady_clock::now() + share_after).time_since_epoch().count(),
          std::memory_order_relaxed);
    }
  }
  ~running_call() {
    if (core_ != nullptr) {
      slot_.steal_after.store(0, std::memory_order_relaxed);
      core_->leave_call();
    }
  }
  running_call(const running_call&) = delete;
  running_call& operator=(const running_call&) = delete;

 private:
  scheduler* core_;
  participant& slot_;
};

// Runs `body(participant&)` as a participant of `pool`: on the calling thread if it is one
// already. From outside, the caller takes a caller slot and runs the body itself, with the
// workers stealing from it. In a pool with a worker per CPU, one worker stands aside meanwhile
// (running_call): the caller then needs no hand-off at either end of the call, and the threads
// that run never outnumber the CPUs (one thread more than CPUs makes the kernel time-slice, and a
// chunk whose thread is switched out holds up the join for a whole slice: a compute-bound map ran
// 12 % slower that way on 2 CPUs, 1,000-element loops 3x slower).
//
// With every caller slot taken (task_groups hold one each between run and wait), the call is
// offered to the workers through the injection queue and the caller waits. If no worker has
// started it after offer_take_back_after (all busy, or blocked on something), the caller takes it
// back as soon as a slot is free, trying every offer_take_back_after, so a call from outside
// never depends on the workers being free.
template <class Body>
auto run_as_participant(thread_pool& pool, Body&& body) {
  scheduler& core = pool.core();
  if (participant* me = core.current()) return body(*me);
  if (participant* slot = core.acquire_caller_slot()) {
    caller_slot_guard guard(core, *slot);
    running_call counted(core, *slot);
    return body(*slot);
  }
  auto run_inside = [&body]() -> decltype(auto) { return body(*current_participant); };
  stack_job<decltype(run_inside)> job(run_inside, core.parking(), core.outside());
  auto* ticket = new offer_ticket(&job);
  try {
    core.inject(ticket);
  } catch (...) {  // the pool is being destroyed: nothing else will run the call
    delete ticket;
    participant* slot = core.acquire_caller_slot();
    if (slot == nullptr) throw;
    caller_slot_guard guard(core, *slot);
    return body(*slot);
  }
  bool taken_back = false;
  while (!spin_until([ticket] { return ticket->started(); }, offer_take_back_after)) {
    if (participant* slot = core.acquire_caller_slot()) {
      if (ticket->claim()) {
        caller_slot_guard guard(core, *slot);
        running_call counted(core, *slot);
        job.run_here();
        taken_back = true;
      } else {
        core.release_caller_slot(*slot);
      }
      break;
    }
    // Every caller slot is held (by task_groups or other callers from outside): try again later,
    // without spinning on a CPU the workers may need.
    std::this_thread::sleep_for(offer_take_back_after);
  }
  if (!taken_back && !spin_until([&job] { return job.finished.ready(); }, offer_spin_for_end))
    job.finished.wait_outside();
  ticket->let_go();
  if constexpr (std::is_void_v<decltype(body(std::declval<participant&>()))>) {
    job.take();
  } else {
    return job.take();
  }
}

}  // namespace detail

}  // namespace weft
