// Tests of weft::thread_pool: construction and sizing, submit, parallelism, destruction, idle
// cost, participant indices and default_pool().
#include <weft/weft.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"
#include "timeouts.hpp"

#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#endif

namespace {

using namespace std::chrono_literals;

using weft_test::await;
using weft_test::eventually;

// Sets an environment variable for the lifetime of the object, then restores the old value.
class scoped_environment {
 public:
  scoped_environment(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = std::string(old);
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~scoped_environment() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_environment(const scoped_environment&) = delete;
  scoped_environment& operator=(const scoped_environment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::size_t cpus_in_affinity_mask() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
    return static_cast<std::size_t>(CPU_COUNT(&set));
#endif
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

// Restricts the calling thread to the first two CPUs of its affinity mask (threads it starts
// inherit that), and restores the mask at the end of the scope.
class on_at_most_two_cpus {
 public:
  on_at_most_two_cpus() {
#if defined(__linux__)
    CPU_ZERO(&old_);
    if (sched_getaffinity(0, sizeof(old_), &old_) != 0) return;
    cpu_set_t two;
    CPU_ZERO(&two);
    int kept = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && kept < 2; ++cpu)
      if (CPU_ISSET(cpu, &old_)) {
        CPU_SET(cpu, &two);
        ++kept;
      }
    restore_ = sched_setaffinity(0, sizeof(two), &two) == 0;
#endif
  }
  ~on_at_most_two_cpus() {
#if defined(__linux__)
    if (restore_) sched_setaffinity(0, sizeof(old_), &old_);
#endif
  }
  on_at_most_two_cpus(const on_at_most_two_cpus&) = delete;
  on_at_most_two_cpus& operator=(const on_at_most_two_cpus&) = delete;

 private:
#if defined(__linux__)
  cpu_set_t old_;
  bool restore_ = false;
#endif
};

// Holds every worker of a pool in a task until release() (or destruction), so that nothing
// else runs on them meanwhile.
class every_worker_blocked {
 public:
  explicit every_worker_blocked(weft::thread_pool& pool) {
    for (std::size_t w = 0; w < pool.size(); ++w)
      blockers_.push_back(pool.submit([this] {
        blocked_.fetch_add(1);
        while (!released_.load()) std::this_thread::sleep_for(100us);
      }));
    all_blocked_ = eventually([&] { return blocked_.load() == pool.size(); });
  }
  ~every_worker_blocked() { release(); }
  every_worker_blocked(const every_worker_blocked&) = delete;
  every_worker_blocked& operator=(const every_worker_blocked&) = delete;

  bool all_blocked() const { return all_blocked_; }
  void release() {
    released_.store(true);
    for (auto& blocker : blockers_) await(blocker);
    blockers_.clear();
  }

 private:
  std::atomic<std::size_t> blocked_{0};
  std::atomic<bool> released_{false};
  std::vector<std::future<void>> blockers_;
  bool all_blocked_ = false;
};

// 0, 1, ..., n - 1. A vector, not std::views::iota: clang 14 cannot compile libstdc++ 12's views,
// and these tests must run on every compiler CI uses.
std::vector<int> indices_below(int n) {
  std::vector<int> indices(static_cast<std::size_t>(n));
  std::iota(indices.begin(), indices.end(), 0);
  return indices;
}

// From a thread outside `pool`, submits empty tasks until the pool refuses one (its destructor
// has begun). What happened: refused with std::logic_error, refused with another exception, or
// still accepted after 20 s.
enum class refusal { logic_error, other_exception, never };
refusal submit_until_refused(weft::thread_pool& pool) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      pool.submit([] {});
    } catch (const std::logic_error&) {
      return refusal::logic_error;
    } catch (...) {
      return refusal::other_exception;
    }
    std::this_thread::sleep_for(100us);
  }
  return refusal::never;
}

struct accumulator {
  int base = 0;
  int add(int x) const { return base + x; }
  int value = 7;
};

struct move_only_adder {
  std::unique_ptr<int> amount;
  int operator()(std::unique_ptr<int> x) { return *amount + *x; }
};

}  // namespace

TEST_CASE("thread_pool has exactly the number of workers it is given") {
  for (std::size_t n : {1, 2, 3, 7}) {
    weft::thread_pool pool{n};
    REQUIRE(pool.size() == n);
    REQUIRE(pool.max_participants() >= n);
  }
}

TEST_CASE("thread_pool with 0 workers throws std::invalid_argument naming the workers argument") {
  REQUIRE_THROWS_AS(weft::thread_pool{0}, std::invalid_argument);
  try {
    weft::thread_pool pool{0};
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    REQUIRE(std::string(e.what()).find("workers") != std::string::npos);
  }
}

TEST_CASE("thread_pool() uses WEFT_NUM_THREADS when it holds a positive integer") {
  {
    scoped_environment env("WEFT_NUM_THREADS", "3");
    REQUIRE(weft::default_thread_count() == 3);
    weft::thread_pool pool;
    REQUIRE(pool.size() == 3);
  }
  {
    scoped_environment env("WEFT_NUM_THREADS", "1");
    weft::thread_pool pool;
    REQUIRE(pool.size() == 1);
    REQUIRE(pool.submit([] { return 5; }).get() == 5);
  }
}

TEST_CASE("thread_pool() has one worker per CPU in the affinity mask otherwise") {
  const std::size_t cpus = cpus_in_affinity_mask();
  for (const char* value : {static_cast<const char*>(nullptr), "0", "", "abc", "-2", "3x"}) {
    INFO("WEFT_NUM_THREADS=" << (value != nullptr ? value : "(unset)"));
    scoped_environment env("WEFT_NUM_THREADS", value);
    REQUIRE(weft::default_thread_count() == cpus);
    weft::thread_pool pool;
    REQUIRE(pool.size() == cpus);
  }
}

TEST_CASE("submit passes arguments and returns the result through the future") {
  weft::thread_pool pool{2};
  auto doubled = pool.submit([](int x) { return 2 * x; }, 21);
  auto concatenated = pool.submit([](std::string a, const std::string& b) { return a + b; },
                                  std::string("we"), "ft");
  auto nothing = pool.submit([] {});
  await(doubled);
  REQUIRE(doubled.get() == 42);
  await(concatenated);
  REQUIRE(concatenated.get() == "weft");
  await(nothing);
  REQUIRE_NOTHROW(nothing.get());
}

TEST_CASE("submit decays and copies its arguments, like std::async") {
  weft::thread_pool pool{2};
  int value = 1;
  std::promise<void> release;
  std::shared_future<void> go = release.get_future().share();
  // The task sees the value at submit time, not a reference to `value`.
  auto seen = pool.submit(
      [go](int copy) {
        go.wait();
        return copy;
      },
      value);
  value = 2;
  release.set_value();
  await(seen);
  REQUIRE(seen.get() == 1);
  // std::ref still passes a reference, as with std::async.
  auto touched = pool.submit([](int& target) { target = 10; }, std::ref(value));
  await(touched);
  touched.get();
  REQUIRE(value == 10);
}

TEST_CASE("submit calls with std::invoke semantics: member functions and data members work") {
  weft::thread_pool pool{2};
  accumulator object{100, 7};
  auto by_pointer = pool.submit(&accumulator::add, &object, 5);
  auto by_value = pool.submit(&accumulator::add, object, 6);
  auto by_reference = pool.submit(&accumulator::add, std::cref(object), 7);
  auto member = pool.submit(&accumulator::value, &object);
  await(by_pointer);
  REQUIRE(by_pointer.get() == 105);
  await(by_value);
  REQUIRE(by_value.get() == 106);
  await(by_reference);
  REQUIRE(by_reference.get() == 107);
  await(member);
  REQUIRE(member.get() == 7);
}

TEST_CASE("submit accepts move-only callables and move-only arguments") {
  weft::thread_pool pool{2};
  auto owned = std::make_unique<int>(40);
  auto from_lambda = pool.submit([p = std::move(owned)] { return *p + 2; });
  auto from_functor =
      pool.submit(move_only_adder{std::make_unique<int>(1)}, std::make_unique<int>(2));
  auto returns_move_only =
      pool.submit([](std::unique_ptr<int> p) { return p; }, std::make_unique<int>(9));
  await(from_lambda);
  REQUIRE(from_lambda.get() == 42);
  await(from_functor);
  REQUIRE(from_functor.get() == 3);
  await(returns_move_only);
  auto result = returns_move_only.get();
  REQUIRE(result != nullptr);
  REQUIRE(*result == 9);
}

TEST_CASE("submit stores a task's exception in the future and the pool stays usable") {
  // One worker, so the tasks run in order: once `fine` is ready, the worker has finished with the
  // failing tasks (and dropped its references to their exceptions), and only this thread touches
  // them afterwards.
  weft::thread_pool pool{1};
  auto failing = pool.submit([]() -> int { throw std::runtime_error("task failed"); });
  auto failing_void = pool.submit([] { throw 42; });
  auto fine = pool.submit([] { return 1; });
  REQUIRE(weft_test::get(fine) == 1);
  await(failing);
  REQUIRE_THROWS_WITH(failing.get(), "task failed");
  await(failing_void);
  REQUIRE_THROWS_AS(failing_void.get(), int);
  auto after = pool.submit([](int x) { return x + 1; }, 1);
  REQUIRE(weft_test::get(after) == 2);
}

TEST_CASE("N workers really run N submitted tasks at once") {
  for (std::size_t n : {2, 4}) {
    weft::thread_pool pool{n};
    std::atomic<std::size_t> arrived{0};
    std::vector<std::future<bool>> tasks;
    for (std::size_t i = 0; i < n; ++i) {
      tasks.push_back(pool.submit([&arrived, n] {
        arrived.fetch_add(1);
        // A barrier of size n with a timeout: it is passed only if n tasks run at once.
        return eventually([&] { return arrived.load() >= n; }, 10s);
      }));
    }
    for (auto& task : tasks) {
      await(task);
      REQUIRE(task.get());
    }
  }
}

TEST_CASE("destroying a pool finishes every submitted task and the tasks they submit") {
  std::atomic<int> ran{0};
  constexpr int roots = 50;
  {
    weft::thread_pool pool{2};
    weft::thread_pool* self = &pool;
    for (int i = 0; i < roots; ++i) {
      pool.submit([self, &ran] {
        std::this_thread::sleep_for(200us);
        ran.fetch_add(1);
        for (int k = 0; k < 3; ++k) {
          self->submit([self, &ran] {
            ran.fetch_add(1);
            self->submit([&ran] { ran.fetch_add(1); });
          });
        }
      });
    }
  }  // the destructor runs here, most tasks still queued
  REQUIRE(ran.load() == roots * (1 + 3 + 3));
}

TEST_CASE("submitting from outside to a pool whose destructor has begun throws std::logic_error") {
  refusal outcome = refusal::never;
  {
    auto pool = std::make_unique<weft::thread_pool>(1);
    weft::thread_pool* target = pool.get();
    // The task keeps the destructor waiting while a thread from outside submits until refused.
    pool->submit([target, &outcome] {
      std::thread outsider([target, &outcome] { outcome = submit_until_refused(*target); });
      outsider.join();
    });
    pool.reset();
  }
  REQUIRE(outcome == refusal::logic_error);
}

TEST_CASE("a primitive called from outside runs to the end while every worker is blocked") {
  // The caller runs the call in a caller slot, with a worker per CPU as well as with fewer (then
  // a worker stands aside for it, here one that is blocked). It must not depend on a worker.
  const std::size_t cpus = cpus_in_affinity_mask();
  for (std::size_t workers : {std::size_t{1}, cpus, cpus + 2}) {
    CAPTURE(workers);
    weft::thread_pool pool{workers};
    REQUIRE(pool.core().callers_displace_workers() == (workers >= cpus));
    every_worker_blocked blockers{pool};
    REQUIRE(blockers.all_blocked());
    const std::vector<int> indices = indices_below(100000);
    weft_test::finishes(
        [&] {
          const long sum = weft::parallel_reduce(
              pool, indices, 0L, [](int i) { return static_cast<long>(i); }, std::plus<>{});
          REQUIRE(sum == 100000L * 99999 / 2);
          auto [a, b] = weft::join(
              pool, [] { return 1; }, [] { return 2; });
          REQUIRE(a + b == 3);
          REQUIRE_THROWS_WITH(weft::parallel_for(pool, 0, 1000,
                                                 [](int i) {
                                                   if (i == 500) throw std::runtime_error("at 500");
                                                 }),
                              "at 500");
        },
        "a call from outside with every worker blocked");
  }
}

TEST_CASE("while a caller from outside runs a call, a worker stands aside, and works again after") {
  // With a worker per CPU, a caller that ran chunks beside every worker would make one thread
  // more than CPUs. So for the length of its call one worker sleeps; the caller is no longer
  // counted once the call returns or throws, and the worker comes back for the next work.
  const std::size_t workers = cpus_in_affinity_mask();
  weft::thread_pool pool{workers};
  REQUIRE(pool.core().callers_displace_workers());
  std::atomic<int> saw_one_aside{0};  // counted, not asserted: Catch2 asserts on one thread only
  // Every chunk waits until one worker stands aside: the caller runs one chunk and the workers
  // that do not stand aside the others, so that all of them are busy when the last one is idle.
  // (One chunk more than workers, so that a pool of one worker has two chunks to share.)
  weft::parallel_for(pool, weft::chunked(std::size_t{0}, workers + 1, 1),
                     [&](weft::chunk<std::size_t>) {
                       if (eventually([&] { return pool.core().standing_aside() == 1; }))
                         saw_one_aside.fetch_add(1);
                     });
  REQUIRE(saw_one_aside.load() == static_cast<int>(workers + 1));
  CHECK(pool.core().callers_running() == 0);
  REQUIRE_THROWS_WITH(weft::parallel_for(pool, 0, 1000,
                                         [](int i) {
                                           if (i == 999) throw std::runtime_error("at 999");
                                         }),
                      "at 999");
  CHECK(pool.core().callers_running() == 0);
  // Every worker works again: tasks that can only finish when all of them run at once.
  std::atomic<std::size_t> running{0};
  std::vector<std::future<bool>> all_at_once;
  for (std::size_t w = 0; w < workers; ++w)
    all_at_once.push_back(pool.submit([&] {
      running.fetch_add(1);
      return eventually([&] { return running.load() == workers; });
    }));
  for (auto& task : all_at_once) REQUIRE(weft_test::get(task, "a task beside every worker"));
  CHECK(pool.core().standing_aside() == 0);
}

TEST_CASE(
    "a task submitted from inside a call and left behind runs once every worker stood aside") {
  // As many callers as workers: every worker stands aside. A task one caller submits from inside
  // its call sits in that caller's deque, where no sleeping worker sees it; the caller leaving
  // must wake a worker for it, or it would wait for the next push.
  // A pool with a worker per CPU and no more workers than caller slots: made on at most two
  // CPUs, whose mask its workers inherit.
  std::optional<weft::thread_pool> made;
  {
    on_at_most_two_cpus pinned;
    made.emplace(cpus_in_affinity_mask());
  }
  weft::thread_pool& pool = *made;
  const std::size_t workers = pool.size();
  REQUIRE(pool.core().callers_displace_workers());
  std::atomic<int> all_aside{0};
  std::atomic<bool> submitted{false};
  std::promise<std::future<int>> left_behind;
  auto caller = [&](bool submits) {
    weft::install(pool, [&] {
      if (eventually([&] { return pool.core().standing_aside() == workers; })) all_aside++;
      // Every caller has seen every worker aside before the task exists, and none leaves before.
      eventually([&] { return all_aside.load() == static_cast<int>(workers); });
      if (submits) {
        left_behind.set_value(pool.submit([] { return 7; }));
        submitted.store(true);
      }
      eventually([&] { return submitted.load(); });
    });
  };
  std::vector<std::thread> callers;
  for (std::size_t c = 0; c < workers; ++c) callers.emplace_back(caller, c == 0);
  for (auto& thread : callers) thread.join();
  REQUIRE(all_aside.load() == static_cast<int>(workers));
  std::future<int> task = left_behind.get_future().get();
  REQUIRE(weft_test::get(task, "the task left behind") == 7);
}

TEST_CASE("a task pushed during a call by a worker that then blocks runs once the call ends") {
  // During the call one worker stands aside and the other pushes without waking it. Here the
  // pusher then blocks in a plain wait for what it pushed (not a helping wait, as a future's get
  // would): when the call returns, the worker aside must be woken for it, or the pusher waits for
  // ever. Two workers on two CPUs, so that one stands aside and one works.
  std::optional<weft::thread_pool> made;
  {
    on_at_most_two_cpus pinned;
    made.emplace(cpus_in_affinity_mask());
  }
  weft::thread_pool& pool = *made;
  if (pool.size() < 2) {
    WARN("needs two CPUs: one worker to stand aside and one to block");
    return;
  }
  REQUIRE(pool.core().callers_displace_workers());
  std::atomic<bool> pushed{false};
  std::atomic<bool> inner_ran{false};
  std::future<bool> outer;
  bool saw_one_aside = false;
  weft::install(pool, [&] {
    saw_one_aside = eventually([&] { return pool.core().standing_aside() == 1; });
    // Submitted from inside the call: onto this caller's deque, where the one worker awake
    // steals it. It pushes its own task onto that worker's deque and waits without helping.
    outer = pool.submit([&] {
      std::future<void> inner = pool.submit([&] { inner_ran.store(true); });
      pushed.store(true);
      return eventually([&] { return inner_ran.load(); });
    });
    eventually([&] { return pushed.load(); });
  });
  REQUIRE(saw_one_aside);
  REQUIRE(pushed.load());
  REQUIRE(weft_test::get(outer, "a task waiting for the task it pushed"));
}

TEST_CASE("a caller woken at the end of its offered call stops counting as woken once it runs") {
  // Workers yield instead of pausing while a woken caller waits for a CPU. A count left behind
  // would have them yield for good, so it must be back at zero after every call, however the
  // caller waited: slept through a long call, or spun through a short one, from several threads.
  // Calls are offered to the workers only when every caller slot is held: task_groups hold them.
  const std::size_t workers = cpus_in_affinity_mask();
  weft::thread_pool pool{workers};
  std::vector<std::unique_ptr<weft::task_group>> groups;
  for (std::size_t i = 0; i < weft::detail::scheduler::caller_slots; ++i) {
    groups.push_back(std::make_unique<weft::task_group>(pool));
    groups.back()->run([] {});
  }
  auto woken = [&] { return pool.core().outside().woken.load(); };
  std::atomic<int> right_sums{0};  // counted, not asserted: Catch2 asserts on one thread only
  auto call_a_few = [&] {
    for (int round = 0; round < 20; ++round) {
      // Chunks that sleep keep the call going long enough for the caller to sleep too.
      weft::parallel_for(pool, 0, 4, [&](int) { std::this_thread::sleep_for(1ms); });
      const long sum = weft::parallel_reduce(
          pool, indices_below(1000), 0L, [](int i) { return static_cast<long>(i); }, std::plus<>{});
      if (sum == 1000L * 999 / 2) right_sums.fetch_add(1);
    }
  };
  call_a_few();
  CHECK(woken() == 0);
  std::thread other(call_a_few);
  call_a_few();
  other.join();
  REQUIRE(right_sums.load() == 60);
  CHECK(woken() == 0);
  CHECK_FALSE(pool.core().outside().someone_woken());
  for (auto& group : groups) group->wait();
}

TEST_CASE("a call from outside that no worker starts waits for a caller slot to run it itself") {
  const std::size_t workers = cpus_in_affinity_mask();
  weft::thread_pool pool{workers};
  every_worker_blocked blockers{pool};
  REQUIRE(blockers.all_blocked());
  // Task groups run from outside hold a caller slot each until their wait(): hold them all.
  std::vector<std::unique_ptr<weft::task_group>> groups;
  for (std::size_t i = 0; i < weft::detail::scheduler::caller_slots; ++i) {
    groups.push_back(std::make_unique<weft::task_group>(pool));
    groups.back()->run([] {});
  }
  const std::vector<int> indices = indices_below(10000);
  std::atomic<bool> done{false};
  long sum = -1;
  std::thread caller([&] {
    sum = weft::parallel_reduce(
        pool, indices, 0L, [](int i) { return static_cast<long>(i); }, std::plus<>{});
    done.store(true);
  });
  // Nobody can run the call: every worker is blocked and no slot is free to take it back into.
  // The checks are recorded and asserted at the end, once the caller thread is joined.
  std::this_thread::sleep_for(20ms);
  const bool ran_before_a_slot_was_free = done.load();
  groups.front()->wait();  // gives a slot back
  const bool finished_with_workers_blocked = eventually([&] { return done.load(); });
  blockers.release();
  caller.join();
  for (auto& group : groups) group->wait();
  REQUIRE_FALSE(ran_before_a_slot_was_free);
  REQUIRE(finished_with_workers_blocked);
  REQUIRE(sum == 10000L * 9999 / 2);
}

TEST_CASE("a primitive called from outside a pool whose destructor has begun still runs") {
  std::atomic<long> sum{-1};
  {
    auto pool = std::make_unique<weft::thread_pool>(cpus_in_affinity_mask());
    weft::thread_pool* target = pool.get();
    // As above: the task keeps the destructor waiting; once submit is refused, the pool takes no
    // more work from outside, but a primitive must still run (on the calling thread).
    pool->submit([target, &sum] {
      std::thread outsider([target, &sum] {
        if (submit_until_refused(*target) != refusal::logic_error) return;
        sum.store(weft::parallel_reduce(
            *target, indices_below(10000), 0L, [](int i) { return static_cast<long>(i); },
            std::plus<>{}));
      });
      outsider.join();
    });
    pool.reset();
  }
  REQUIRE(sum.load() == 10000L * 9999 / 2);
}

namespace {
// A callable of `Size` bytes (and `Align` alignment) that counts its live copies: every task's
// callable must be destroyed exactly once, whichever thread made, ran and freed it.
template <std::size_t Size, std::size_t Align = alignof(std::max_align_t)>
struct alignas(Align) counted_task {
  std::atomic<int>* live;
  std::atomic<long>* sum;
  long value;
  unsigned char padding[Size > 3 * sizeof(void*) ? Size - 3 * sizeof(void*) : 1] = {};
  counted_task(std::atomic<int>* l, std::atomic<long>* s, long v) : live(l), sum(s), value(v) {
    live->fetch_add(1, std::memory_order_relaxed);
  }
  counted_task(const counted_task& o) : live(o.live), sum(o.sum), value(o.value) {
    live->fetch_add(1, std::memory_order_relaxed);
  }
  ~counted_task() { live->fetch_sub(1, std::memory_order_relaxed); }
  void operator()() const { sum->fetch_add(value, std::memory_order_relaxed); }
};
}  // namespace

TEST_CASE("heap jobs of every size are run and destroyed once, wherever they are made and freed") {
  // Jobs take memory from the job cache of the participant that makes them and give it back to
  // that cache from whichever thread runs them: small, medium, past the largest cached size,
  // over-aligned; made outside (submit, task_group) and inside (tasks that submit tasks).
  std::atomic<int> live{0};
  std::atomic<long> sum{0};
  const long per_thread = WEFT_TEST_SANITIZED ? 2000 : 20000;
  {
    weft::thread_pool pool(3);
    auto produce = [&](long base) {
      weft::task_group group(pool);
      for (long i = 0; i < per_thread; ++i) {
        const long v = base + i;
        switch (i % 5) {
          case 0:
            group.run(counted_task<8>(&live, &sum, v));
            break;
          case 1:
            group.run(counted_task<100>(&live, &sum, v));
            break;
          case 2:
            group.run(counted_task<400>(&live, &sum, v));
            break;
          case 3:
            group.run(counted_task<24, 64>(&live, &sum, v));
            break;
          default:  // a task that makes a task from inside the pool
            group.run([&, v] { pool.submit(counted_task<40>(&live, &sum, v)); });
            break;
        }
      }
      group.wait();
      pool.submit(counted_task<16>(&live, &sum, base)).get();
    };
    std::vector<std::thread> threads;
    for (long t = 0; t < 3; ++t) threads.emplace_back(produce, t * 1000000);
    for (auto& t : threads) t.join();
  }  // the pool's destructor finishes the tasks submitted from inside
  long expected = 0;
  for (long t = 0; t < 3; ++t)
    expected += t * 1000000 * (per_thread + 1) + per_thread * (per_thread - 1) / 2;
  REQUIRE(sum.load() == expected);
  REQUIRE(live.load() == 0);
}

TEST_CASE("participant_index is below max_participants inside tasks and nullopt outside") {
  weft::thread_pool pool{3};
  REQUIRE_FALSE(pool.participant_index().has_value());
  std::vector<std::future<std::optional<std::size_t>>> indices;
  for (int i = 0; i < 20; ++i)
    indices.push_back(pool.submit([&pool] { return pool.participant_index(); }));
  for (auto& index : indices) {
    await(index);
    auto value = index.get();
    REQUIRE(value.has_value());
    REQUIRE(*value < pool.size());  // submitted tasks run on workers
  }
  // A caller that joins in gets an index too, below max_participants.
  auto [a, b] = weft::join(
      pool, [&] { return pool.participant_index(); }, [&] { return pool.participant_index(); });
  REQUIRE(a.has_value());
  REQUIRE(*a < pool.max_participants());
  REQUIRE(b.has_value());
  REQUIRE(*b < pool.max_participants());
  REQUIRE_FALSE(pool.participant_index().has_value());

  // A worker of another pool is no participant of this one.
  weft::thread_pool other{1};
  auto foreign = other.submit([&pool] { return pool.participant_index(); });
  await(foreign);
  REQUIRE_FALSE(foreign.get().has_value());
}

TEST_CASE("default_pool is one process-wide pool and runs work") {
  weft::thread_pool& first = weft::default_pool();
  weft::thread_pool& second = weft::default_pool();
  REQUIRE(&first == &second);
  REQUIRE(first.size() >= 1);
  auto answer = first.submit([](int x) { return x + 1; }, 41);
  await(answer);
  REQUIRE(answer.get() == 42);
  auto [a, b] = weft::join([] { return 1; }, [] { return 2; });
  REQUIRE(a == 1);
  REQUIRE(b == 2);
}

#if defined(__linux__)
TEST_CASE("an idle pool uses no measurable CPU") {
  const auto cpu_seconds = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
  };

  weft::thread_pool pool{4};
  // Some work first, so that every worker has been busy and has gone idle since.
  std::atomic<long> sum{0};
  weft::parallel_for(pool, 0, 100000, [&](int i) { sum.fetch_add(i, std::memory_order_relaxed); });
  REQUIRE(sum.load() == 100000L * 99999 / 2);
  std::this_thread::sleep_for(50ms);

  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  std::this_thread::sleep_for(500ms);
  const double cpu_used = cpu_seconds() - cpu_start;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  INFO("CPU used while idle: " << cpu_used << " s over " << wall << " s");
  REQUIRE(cpu_used < 0.05 * wall);
}
#endif
