// Tests of weft::isolate: a thread that waits inside an isolated region runs only the region's
// own tasks, never unrelated ones.
#include <weft/weft.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "timeouts.hpp"

namespace {

using namespace std::chrono_literals;
using weft_test::await;

// Set on the thread that is inside the region under test, for as long as it is.
thread_local bool inside_region = false;

struct region_flag {
  bool previous = inside_region;
  region_flag() { inside_region = true; }
  ~region_flag() { inside_region = previous; }
  region_flag(const region_flag&) = delete;
  region_flag& operator=(const region_flag&) = delete;
};

// An unrelated task: it must never run on the thread inside the region.
struct unrelated_task {
  std::atomic<int>* violations;
  std::atomic<int>* ran;
  void operator()() const {
    if (inside_region) violations->fetch_add(1);
    std::this_thread::sleep_for(20us);
    ran->fetch_add(1);
  }
};

// Work inside the region that makes the region's thread wait (and so help) several times.
void region_work(weft::thread_pool& pool, std::atomic<long>& sum) {
  weft::task_group group{pool};
  for (int i = 0; i < 40; ++i) {
    group.run([&sum, i] {
      std::this_thread::sleep_for(50us);
      sum.fetch_add(i);
    });
  }
  weft::parallel_for(pool, weft::chunked(0, 64, 1), [&](weft::chunk<int> c) {
    std::this_thread::sleep_for(20us);
    sum.fetch_add(c.first());
  });
  auto [a, b] = weft::join(
      pool,
      [] {
        std::this_thread::sleep_for(100us);
        return 1L;
      },
      [] {
        std::this_thread::sleep_for(100us);
        return 2L;
      });
  sum.fetch_add(a + b);
  group.wait();
}

constexpr long region_sum = (39 * 40 / 2) + (63 * 64 / 2) + 3;

}  // namespace

TEST_CASE("isolate runs f on the calling thread and returns its value") {
  weft::thread_pool pool{2};
  const auto caller = std::this_thread::get_id();
  REQUIRE(weft::isolate(pool, [&] { return std::this_thread::get_id() == caller; }));
  REQUIRE(weft::isolate(pool, [] { return std::string("value"); }) == "value");
  auto owned = weft::isolate(pool, [] { return std::make_unique<int>(3); });
  REQUIRE(owned != nullptr);
  REQUIRE(*owned == 3);
  int touched = 0;
  weft::isolate(pool, [&] { touched = 1; });
  REQUIRE(touched == 1);
  // Nested regions, and the default pool overload.
  REQUIRE(weft::isolate(pool, [&] { return weft::isolate(pool, [] { return 7; }) + 1; }) == 8);
  REQUIRE(weft::isolate([] { return 9; }) == 9);
  // Exceptions pass through, and the pool is usable afterwards.
  REQUIRE_THROWS_AS(weft::isolate(pool, []() -> int { throw std::runtime_error("inside"); }),
                    std::runtime_error);
  auto after = pool.submit([] { return 1; });
  REQUIRE(weft_test::get(after) == 1);
}

TEST_CASE("inside isolate, a waiting thread never runs a task spawned outside the region") {
  std::atomic<int> violations{0};
  std::atomic<int> unrelated_ran{0};
  weft::thread_pool pool{2};  // declared after what its tasks use: destroyed (and drained) first
  constexpr int from_outside = 200;
  constexpr int from_inside = 400;

  for (int round = 0; round < 5; ++round) {
    violations.store(0);
    unrelated_ran.store(0);
    // Unrelated tasks in the injection queue, and in a worker's deque where anyone may steal them.
    std::vector<std::future<void>> unrelated;
    for (int i = 0; i < from_outside; ++i)
      unrelated.push_back(pool.submit(unrelated_task{&violations, &unrelated_ran}));
    auto spawner = pool.submit([&] {
      weft::task_group group{pool};
      for (int i = 0; i < from_inside; ++i) group.run(unrelated_task{&violations, &unrelated_ran});
      group.wait();
    });

    std::atomic<long> sum{0};
    const long result = weft::isolate(pool, [&] {
      region_flag flag;
      region_work(pool, sum);
      return sum.load();
    });
    REQUIRE(result == region_sum);

    for (auto& task : unrelated) await(task);
    await(spawner);
    spawner.get();
    REQUIRE(unrelated_ran.load() == from_outside + from_inside);
    REQUIRE(violations.load() == 0);
  }
}

TEST_CASE("isolate inside a worker task completes and never runs the unrelated tasks below it") {
  std::atomic<int> violations{0};
  std::atomic<int> unrelated_ran{0};
  weft::thread_pool pool{2};
  auto whole = pool.submit([&] {
    // Unrelated tasks below the region on this worker's own deque.
    weft::task_group unrelated{pool};
    for (int i = 0; i < 300; ++i) unrelated.run(unrelated_task{&violations, &unrelated_ran});
    std::atomic<long> sum{0};
    const long result = weft::isolate(pool, [&] {
      region_flag flag;
      region_work(pool, sum);
      return sum.load();
    });
    unrelated.wait();
    return result;
  });
  REQUIRE(weft_test::get(whole) == region_sum);
  REQUIRE(unrelated_ran.load() == 300);
  REQUIRE(violations.load() == 0);
}

TEST_CASE("a mutex-holding isolated region that waits does not deadlock on unrelated tasks") {
  std::mutex mutex;
  std::atomic<std::thread::id> holder{};
  std::atomic<int> would_have_deadlocked{0};
  std::atomic<int> lock_timeouts{0};
  std::atomic<int> unrelated_ran{0};
  weft::thread_pool pool{2};  // declared last: destroyed (and drained) first

  // Unrelated tasks that need the same mutex. Run on the region's thread while it holds the
  // mutex, they would deadlock (a second lock by the owner): they count that instead. Run on a
  // worker that is in the middle of one of the region's tasks, they would deadlock too (the
  // region waits for that task, the task for the mutex): the time limit on the lock turns that
  // into a count of timeouts.
  auto needs_mutex = [&] {
    if (holder.load() == std::this_thread::get_id()) {
      would_have_deadlocked.fetch_add(1);
    } else if (weft_test::eventually([&] { return mutex.try_lock(); }, 5s)) {
      unrelated_ran.fetch_add(1);
      mutex.unlock();
    } else {
      lock_timeouts.fetch_add(1);
    }
  };

  for (int round = 0; round < 5; ++round) {
    unrelated_ran.store(0);
    std::vector<std::future<void>> unrelated;
    for (int i = 0; i < 50; ++i) unrelated.push_back(pool.submit(needs_mutex));
    auto spawner = pool.submit([&] {
      weft::task_group group{pool};
      for (int i = 0; i < 50; ++i) group.run(needs_mutex);
      group.wait();
    });

    std::atomic<long> sum{0};
    {
      std::lock_guard lock(mutex);
      holder.store(std::this_thread::get_id());
      weft::isolate(pool, [&] { region_work(pool, sum); });
      holder.store(std::thread::id{});
    }
    REQUIRE(sum.load() == region_sum);

    for (auto& task : unrelated) await(task);
    await(spawner);
    REQUIRE(unrelated_ran.load() == 100);
  }
  REQUIRE(would_have_deadlocked.load() == 0);
  REQUIRE(lock_timeouts.load() == 0);
}

TEST_CASE(
    "a worker running a task of an isolated region never runs unrelated tasks while it waits") {
  // The region's thread R forks B and waits until a worker W1 has stolen it. Inside B, W1 forks
  // D, which the other worker W2 takes and holds. While W1 waits for D, an unrelated task U
  // arrives from outside. W1 is doing the region's work (it runs B, which R waits for), so it must
  // not pick U up: if U needed a lock the region holds, the region would deadlock.
  std::atomic<bool> b_started{false};
  std::atomic<bool> d_started{false};
  std::atomic<bool> u_ran{false};
  std::atomic<int> violations{0};
  std::atomic<bool> b_was_stolen{false};
  const auto region_thread = std::this_thread::get_id();
  weft::thread_pool pool{2};

  std::thread outsider;
  const bool a_met_b = weft::isolate(pool, [&] {
    region_flag flag;
    auto [met, unused] = weft::join(
        pool, [&] { return weft_test::eventually([&] { return b_started.load(); }); },
        [&] {
          b_started.store(true);
          b_was_stolen.store(std::this_thread::get_id() != region_thread);
          region_flag b_flag;  // this thread now runs the region's work
          weft::join(
              pool,
              [&] {
                weft_test::eventually([&] { return d_started.load(); });
                outsider = std::thread([&] {
                  pool.submit([&] {
                    if (inside_region) violations.fetch_add(1);
                    u_ran.store(true);
                  });
                });
                outsider.join();
              },
              [&] {
                d_started.store(true);
                // Give U time to be (wrongly) picked up; it is run after the region otherwise.
                weft_test::eventually([&] { return u_ran.load(); }, 1s);
              });
        });
    static_cast<void>(unused);
    return met;
  });
  REQUIRE(a_met_b);
  REQUIRE(b_was_stolen.load());
  REQUIRE(weft_test::eventually([&] { return u_ran.load(); }, 30s));
  REQUIRE(violations.load() == 0);
}
