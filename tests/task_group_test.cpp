// Tests of weft::task_group: run/wait, exceptions, reuse, destruction, waits from anywhere.
#include <weft/weft.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"
#include "timeouts.hpp"

namespace {

using namespace std::chrono_literals;

using weft_test::await;
using weft_test::finishes;

void nested_groups(weft::thread_pool& pool, int depth, std::atomic<long>& leaves) {
  if (depth == 0) {
    leaves.fetch_add(1);
    return;
  }
  weft::task_group group{pool};
  for (int i = 0; i < 3; ++i)
    group.run([&pool, depth, &leaves] { nested_groups(pool, depth - 1, leaves); });
  group.wait();
}

std::atomic<int> handler_calls{0};
std::atomic<bool> handler_saw_expected{false};

void counting_handler(std::exception_ptr error) noexcept {
  handler_calls.fetch_add(1);
  try {
    std::rethrow_exception(error);
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()) == "nobody waited") handler_saw_expected.store(true);
  } catch (...) {
  }
}

}  // namespace

TEST_CASE("task_group runs every task before wait returns") {
  weft::thread_pool pool{2};
  std::atomic<int> ran{0};
  weft::task_group group{pool};
  for (int i = 0; i < 1000; ++i) group.run([&] { ran.fetch_add(1); });
  finishes([&] { group.wait(); });
  REQUIRE(ran.load() == 1000);
  // Waiting on an empty (or already finished) group returns at once.
  group.wait();
  weft::task_group empty{pool};
  empty.wait();
}

TEST_CASE("task_group accepts move-only callables") {
  weft::thread_pool pool{2};
  std::atomic<int> sum{0};
  weft::task_group group{pool};
  for (int i = 1; i <= 10; ++i) {
    auto owned = std::make_unique<int>(i);
    group.run([p = std::move(owned), &sum] { sum.fetch_add(*p); });
  }
  group.wait();
  REQUIRE(sum.load() == 55);
}

TEST_CASE("task_group::run may be called from inside the group's own tasks") {
  weft::thread_pool pool{2};
  std::atomic<int> ran{0};
  weft::task_group group{pool};
  // A binary tree of tasks, each adding its children to the same group: 2^11 - 1 in all.
  struct spawner {
    weft::task_group& group;
    std::atomic<int>& ran;
    int depth;
    void operator()() const {
      ran.fetch_add(1);
      if (depth > 0) {
        group.run(spawner{group, ran, depth - 1});
        group.run(spawner{group, ran, depth - 1});
      }
    }
  };
  group.run(spawner{group, ran, 10});
  finishes([&] { group.wait(); });
  REQUIRE(ran.load() == (1 << 11) - 1);
}

TEST_CASE("task_group::run may be called from several threads at once") {
  weft::thread_pool pool{2};
  std::atomic<long> sum{0};
  weft::task_group group{pool};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&group, &sum, t] {
      for (int i = 0; i < 500; ++i) group.run([&sum, t, i] { sum.fetch_add(t * 1000 + i); });
    });
  }
  for (auto& thread : threads) thread.join();
  finishes([&] { group.wait(); });
  long expected = 0;
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 500; ++i) expected += t * 1000 + i;
  REQUIRE(sum.load() == expected);
}

TEST_CASE("task_group::wait rethrows the first exception and skips tasks not yet started") {
  SECTION("tasks run from inside the pool's only worker") {
    // The worker queues 1000 tasks, then one that throws; it runs the newest first, so the
    // thrower runs before any of the others can start, and no other thread may take them.
    std::atomic<int> others_ran{0};
    weft::thread_pool pool{1};
    auto outcome = pool.submit([&] {
      weft::task_group group{pool};
      for (int i = 0; i < 1000; ++i) group.run([&] { others_ran.fetch_add(1); });
      group.run([] { throw std::runtime_error("first failure"); });
      try {
        group.wait();
      } catch (const std::runtime_error& e) {
        return std::string(e.what());
      }
      return std::string("no exception");
    });
    REQUIRE(weft_test::get(outcome) == "first failure");
    REQUIRE(others_ran.load() < 10);
  }
  SECTION("tasks run from outside, taken in the order they were run") {
    // The pool's only worker is held by a task of another group, so the waiting thread runs the
    // group alone, in order: the thrower first, then none of the 1000 after it.
    std::atomic<int> others_ran{0};
    std::atomic<bool> worker_held{false}, release_worker{false};
    weft::thread_pool pool{1};
    weft::task_group holder{pool};
    holder.run([&] {
      worker_held.store(true);
      worker_held.notify_one();
      release_worker.wait(false);
    });
    worker_held.wait(false);
    weft::task_group group{pool};
    group.run([] { throw std::runtime_error("first failure"); });
    for (int i = 0; i < 1000; ++i) group.run([&] { others_ran.fetch_add(1); });
    REQUIRE_THROWS_WITH(group.wait(), "first failure");
    REQUIRE(others_ran.load() == 0);
    release_worker.store(true);
    release_worker.notify_one();
    holder.wait();
  }
  SECTION("tasks run from outside while the worker takes them too") {
    // Both threads run tasks (those that start while the first is still unwinding run too): the
    // first exception still comes back.
    weft::thread_pool pool{1};
    weft::task_group group{pool};
    group.run([] { throw std::runtime_error("first failure"); });
    for (int i = 0; i < 1000; ++i) group.run([] {});
    REQUIRE_THROWS_WITH(group.wait(), "first failure");
  }
}

TEST_CASE("task_group::wait rethrows exactly one of several exceptions") {
  weft::thread_pool pool{2};
  weft::task_group group{pool};
  for (int i = 0; i < 100; ++i)
    group.run([i] { throw std::runtime_error("failure " + std::to_string(i)); });
  try {
    group.wait();
    FAIL("wait did not throw");
  } catch (const std::runtime_error& e) {
    REQUIRE(std::string(e.what()).rfind("failure ", 0) == 0);
  }
  // Nothing is left over: a second wait has nothing to rethrow.
  REQUIRE_NOTHROW(group.wait());
}

TEST_CASE("task_group is reusable after wait throws") {
  weft::thread_pool pool{2};
  weft::task_group group{pool};
  group.run([] { throw std::logic_error("once"); });
  REQUIRE_THROWS_AS(group.wait(), std::logic_error);
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) group.run([&] { ran.fetch_add(1); });
  REQUIRE_NOTHROW(group.wait());
  REQUIRE(ran.load() == 100);  // none skipped because of the earlier failure
  group.run([] { throw std::logic_error("twice"); });
  REQUIRE_THROWS_WITH(group.wait(), "twice");
}

TEST_CASE("task_group's destructor waits for its tasks and does not throw") {
  weft::thread_pool pool{2};
  std::atomic<int> ran{0};
  auto previous = weft::set_unobserved_exception_handler(&counting_handler);
  handler_calls.store(0);
  {
    weft::task_group group{pool};
    for (int i = 0; i < 200; ++i) {
      group.run([&] {
        std::this_thread::sleep_for(50us);
        ran.fetch_add(1);
      });
    }
  }
  REQUIRE(ran.load() == 200);
  REQUIRE(handler_calls.load() == 0);  // no exception, no call
  weft::set_unobserved_exception_handler(previous);
}

TEST_CASE("an exception nobody waited for goes to the unobserved exception handler") {
  weft::thread_pool pool{2};
  auto previous = weft::set_unobserved_exception_handler(&counting_handler);
  handler_calls.store(0);
  handler_saw_expected.store(false);
  REQUIRE_NOTHROW([&] {
    weft::task_group group{pool};
    group.run([] { throw std::runtime_error("nobody waited"); });
  }());
  REQUIRE(handler_calls.load() == 1);
  REQUIRE(handler_saw_expected.load());

  // An exception that wait() rethrew is observed: the destructor does not report it again.
  REQUIRE_NOTHROW([&] {
    weft::task_group group{pool};
    group.run([] { throw std::runtime_error("seen"); });
    REQUIRE_THROWS(group.wait());
  }());
  REQUIRE(handler_calls.load() == 1);

  // set_unobserved_exception_handler returns the previous handler; nullptr restores the default.
  REQUIRE(weft::set_unobserved_exception_handler(nullptr) == &counting_handler);
  REQUIRE(weft::set_unobserved_exception_handler(previous) != &counting_handler);
  REQUIRE(weft::set_unobserved_exception_handler(previous) == previous);
}

TEST_CASE("task_group::wait works from outside the pool and from inside a worker") {
  weft::thread_pool pool{2};
  SECTION("from outside") {
    std::atomic<int> ran{0};
    weft::task_group group{pool};
    for (int i = 0; i < 100; ++i) group.run([&] { ran.fetch_add(1); });
    finishes([&] { group.wait(); });
    REQUIRE(ran.load() == 100);
  }
  SECTION("from inside a worker, on every worker at once") {
    std::vector<std::future<int>> results;
    for (int w = 0; w < 4; ++w) {
      results.push_back(pool.submit([&pool] {
        std::atomic<int> ran{0};
        weft::task_group group{pool};
        for (int i = 0; i < 100; ++i) group.run([&] { ran.fetch_add(1); });
        group.wait();
        return ran.load();
      }));
    }
    for (auto& result : results) {
      await(result);
      REQUIRE(result.get() == 100);
    }
  }
  SECTION("from several threads outside, more than the pool has caller slots") {
    std::vector<std::future<int>> results;
    for (int t = 0; t < 8; ++t) {
      results.push_back(std::async(std::launch::async, [&pool] {
        std::atomic<int> ran{0};
        weft::task_group group{pool};
        for (int i = 0; i < 100; ++i) group.run([&] { ran.fetch_add(1); });
        group.wait();
        return ran.load();
      }));
    }
    for (auto& result : results) {
      await(result);
      REQUIRE(result.get() == 100);
    }
  }
}

TEST_CASE("one task_group may be waited on by two threads at once") {
  weft::thread_pool pool{2};
  std::atomic<int> ran{0};
  weft::task_group group{pool};
  std::promise<void> release;
  std::shared_future<void> go = release.get_future().share();
  for (int i = 0; i < 50; ++i) {
    group.run([&ran, go] {
      go.wait();
      ran.fetch_add(1);
    });
  }
  // Two waiters: one from outside, one from inside a worker.
  auto inside = pool.submit([&group] { group.wait(); });
  auto outside = std::async(std::launch::async, [&group] { group.wait(); });
  std::this_thread::sleep_for(10ms);  // let both start waiting (not needed for correctness)
  release.set_value();
  await(inside);
  await(outside);
  inside.get();
  outside.get();
  REQUIRE(ran.load() == 50);
}

TEST_CASE("task_groups nest to depth 4 on a 2-worker pool") {
  weft::thread_pool pool{2};
  std::atomic<long> leaves{0};
  SECTION("from outside") {
    finishes([&] { nested_groups(pool, 4, leaves); });
    REQUIRE(leaves.load() == 81);
  }
  SECTION("from inside a task") {
    auto whole = pool.submit([&] { nested_groups(pool, 4, leaves); });
    await(whole);
    whole.get();
    REQUIRE(leaves.load() == 81);
  }
  SECTION("with parallel_for and join mixed in") {
    auto whole = pool.submit([&] {
      weft::task_group outer{pool};
      for (int i = 0; i < 3; ++i) {
        outer.run([&] {
          weft::parallel_for(pool, weft::chunked(0, 6, 1), [&](weft::chunk<int>) {
            weft::join(
                pool, [&] { nested_groups(pool, 1, leaves); },
                [&] { nested_groups(pool, 1, leaves); });
          });
        });
      }
      outer.wait();
    });
    await(whole);
    whole.get();
    REQUIRE(leaves.load() == 3 * 6 * 2 * 3);
  }
}

// A thread outside the pool that runs tasks holds a caller slot until its wait() ends; these
// cases check that every way of leaving that state gives the slot back and loses no task.
TEST_CASE("tasks run from outside are all executed when another thread waits for them") {
  weft::thread_pool pool{2};
  std::atomic<int> done{0};
  weft::task_group group{pool};
  std::thread runner([&] {
    for (int i = 0; i < 10000; ++i) group.run([&] { done.fetch_add(1); });
  });
  runner.join();
  group.wait();  // not the thread that ran them
  REQUIRE(done.load() == 10000);
}

TEST_CASE(
    "a task_group destroyed without wait by the thread that ran its tasks gives its slot back") {
  weft::thread_pool pool{1};
  std::atomic<int> done{0};
  for (int round = 0; round < 20; ++round) {  // more rounds than caller slots
    weft::task_group group{pool};
    for (int i = 0; i < 100; ++i) group.run([&] { done.fetch_add(1); });
  }
  REQUIRE(done.load() == 2000);
  // Every slot is free again: a primitive from outside still runs its share on this thread.
  std::atomic<int> on_this_thread{0};
  const auto me = std::this_thread::get_id();
  weft::parallel_for(pool, 0, 64, [&](int) {
    if (std::this_thread::get_id() == me) on_this_thread.fetch_add(1);
  });
  REQUIRE(pool.participant_index() == std::nullopt);
  REQUIRE(on_this_thread.load() > 0);
}

// The race the parking protocol is for: a task run from outside just as the workers run out of
// work and park, by a thread that then blocks on something else instead of helping. A worker must
// still wake up for it. The delay before each run sweeps the workers' spin-then-park path.
TEST_CASE("a task run from outside while the workers park is run without the caller's help") {
  weft::thread_pool pool{2};
  weft::task_group group{pool};
  const int rounds = WEFT_TEST_SANITIZED ? 300 : 3000;
  int late = 0;
  for (int round = 0; round < rounds && late == 0; ++round) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(round % 64 * 4);
    while (std::chrono::steady_clock::now() < until) {
    }
    std::promise<void> ran;
    std::future<void> done = ran.get_future();
    group.run([&ran] { ran.set_value(); });
    // Not group.wait(): that would run the task on this thread.
    if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ++late;
      group.wait();  // runs it here, before `ran` goes out of scope
    }
  }
  group.wait();
  REQUIRE(late == 0);
}

TEST_CASE("a thread running a task_group's tasks may call primitives in between") {
  weft::thread_pool pool{2};
  weft::task_group group{pool};
  std::atomic<long> sum{0};
  for (int round = 0; round < 50; ++round) {
    group.run([&] { sum.fetch_add(1); });
    const long part = weft::parallel_reduce(pool, std::vector<long>(1000, 1), 0L,
                                            [](long a, long b) { return a + b; });
    sum.fetch_add(part);
  }
  group.wait();
  REQUIRE(sum.load() == 50 * 1001);
}

TEST_CASE("task_groups run from many outside threads at once all complete") {
  weft::thread_pool pool{2};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {  // more threads than caller slots: some inject
    threads.emplace_back([&] {
      weft::task_group group{pool};
      for (int i = 0; i < 500; ++i) group.run([&] { done.fetch_add(1); });
      group.wait();
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(done.load() == 8 * 500);
}
