// Exceptions thrown by the bodies of the parallel primitives: they reach the caller, no new chunk
// starts after one, the first in time wins, and the pool stays usable.
#include <weft/weft.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"

namespace {

struct body_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Spins until `flag` is set, for at most a few seconds (so that a broken library fails a check
// rather than hanging the test).
void wait_for(const std::atomic<bool>& flag) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!flag.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
}

// Spins until `count` reaches `at_least`, for at most a few seconds.
void wait_for(const std::atomic<int>& count, int at_least) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (count.load() < at_least && std::chrono::steady_clock::now() < give_up)
    std::this_thread::yield();
}

// The pool still runs work correctly.
void check_pool_usable(weft::thread_pool& pool) {
  std::vector<int> v(10000, 1);
  REQUIRE(weft::parallel_reduce(pool, v, 0, std::plus<>{}) == 10000);
  std::atomic<int> calls{0};
  weft::parallel_for(pool, 0, 5000, [&](int) { ++calls; });
  REQUIRE(calls.load() == 5000);
  REQUIRE(pool.submit([] { return 7; }).get() == 7);
}

}  // namespace

TEST_CASE("an exception thrown by a body reaches the caller of every primitive", "[exceptions]") {
  weft::thread_pool pool(4);
  const std::size_t n = 10000;
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  const auto throw_at = [](std::size_t i) {
    if (i == 6789) throw body_error("body " + std::to_string(i));
  };

  REQUIRE_THROWS_AS(weft::parallel_for(pool, std::size_t{0}, n, throw_at), body_error);
  REQUIRE_THROWS_AS(weft::parallel_for(pool, weft::chunked(std::size_t{0}, n, 5),
                                       [&](weft::chunk<std::size_t> c) {
                                         for (auto i : c) throw_at(i);
                                       }),
                    body_error);
  REQUIRE_THROWS_AS(
      weft::parallel_for(pool, v, [&](int& x) { throw_at(static_cast<std::size_t>(x)); }),
      body_error);
  REQUIRE_THROWS_AS(weft::parallel_map(pool, v,
                                       [&](int x) {
                                         throw_at(static_cast<std::size_t>(x));
                                         return x;
                                       }),
                    body_error);
  REQUIRE_THROWS_AS(weft::parallel_reduce(pool, v, 0,
                                          [&](int a, int b) {
                                            throw_at(static_cast<std::size_t>(b));
                                            return a + b;
                                          }),
                    body_error);
  REQUIRE_THROWS_AS(weft::parallel_reduce(
                        pool, v, 0,
                        [&](int x) {
                          throw_at(static_cast<std::size_t>(x));
                          return x;
                        },
                        std::plus<>{}),
                    body_error);
  REQUIRE_THROWS_AS(weft::parallel_reduce(
                        pool, weft::chunked(std::size_t{0}, n, 5), 0,
                        [&](weft::chunk<std::size_t> c) {
                          for (auto i : c) throw_at(i);
                          return 0;
                        },
                        std::plus<>{}),
                    body_error);
  // An exception from the combining step (not a leaf) also arrives.
  REQUIRE_THROWS_AS(
      weft::parallel_reduce(
          pool, weft::chunked(std::size_t{0}, n, 5), 0, [](weft::chunk<std::size_t>) { return 1; },
          [](int a, int b) {
            if (a + b >= 1024) throw body_error("combine");
            return a + b;
          }),
      body_error);
  std::vector<int> out(n);
  REQUIRE_THROWS_AS(weft::parallel_inclusive_scan(pool, v, out.begin(),
                                                  [&](int a, int b) {
                                                    throw_at(static_cast<std::size_t>(b));
                                                    return a + b;
                                                  }),
                    body_error);
  REQUIRE_THROWS_AS(weft::parallel_exclusive_scan(pool, v, out.begin(), 0,
                                                  [&](int a, int b) {
                                                    throw_at(static_cast<std::size_t>(b));
                                                    return a + b;
                                                  }),
                    body_error);
  // And through default_pool().
  REQUIRE_THROWS_AS(weft::parallel_for(std::size_t{0}, n, throw_at), body_error);
  REQUIRE_THROWS_AS(weft::parallel_map(v,
                                       [&](int x) {
                                         throw_at(static_cast<std::size_t>(x));
                                         return x;
                                       }),
                    body_error);
  check_pool_usable(pool);
  check_pool_usable(weft::default_pool());
}

TEST_CASE("an exception thrown by the only chunk reaches the caller", "[exceptions]") {
  weft::thread_pool pool(2);
  REQUIRE_THROWS_AS(weft::parallel_for(pool, 0, 1, [](int) { throw body_error("one"); }),
                    body_error);
  REQUIRE_THROWS_AS(weft::parallel_reduce(pool, std::vector<int>{1}, 0,
                                          [](int, int) -> int { throw body_error("one"); }),
                    body_error);
  check_pool_usable(pool);
}

TEST_CASE("no new chunks start once a body has thrown", "[exceptions]") {
  weft::thread_pool pool(2);
  const std::size_t n = 100000;
  std::atomic<bool> thrown{false};
  std::atomic<std::size_t> bodies{0};
  std::atomic<int> others{0};
  REQUIRE_THROWS_AS(weft::parallel_for(pool, weft::chunked(std::size_t{0}, n, 1),
                                       [&](weft::chunk<std::size_t> c) {
                                         ++bodies;
                                         if (c.first() == 0) {
                                           // Throw while other threads are inside the range.
                                           wait_for(others, 1);
                                           thrown.store(true);
                                           throw body_error("index 0");
                                         }
                                         // Other chunks do not race ahead of the throw.
                                         ++others;
                                         wait_for(thrown);
                                         std::this_thread::sleep_for(std::chrono::microseconds(20));
                                       }),
                    body_error);
  INFO("bodies run: " << bodies.load());
  REQUIRE(others.load() >= 1);  // the throw really happened with other chunks under way
  REQUIRE(bodies.load() < n / 10);
  check_pool_usable(pool);
}

TEST_CASE("the first exception in time is the one rethrown", "[exceptions]") {
  weft::thread_pool pool(4);
  for (int repeat = 0; repeat < 3; ++repeat) {
    std::atomic<bool> first_thrown{false};
    std::atomic<int> others{0};
    std::string message;
    try {
      weft::parallel_for(pool, weft::chunked(0, 64, 1), [&](weft::chunk<int> c) {
        if (c.first() == 0) {
          wait_for(others, 1);  // at least one later exception is on its way
          first_thrown.store(true);
          throw body_error("first");
        }
        // Every other chunk that got to start throws too, well after the first.
        ++others;
        wait_for(first_thrown);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        throw body_error("later");
      });
    } catch (const body_error& error) {
      message = error.what();
    }
    REQUIRE(others.load() >= 1);
    REQUIRE(message == "first");
  }
  check_pool_usable(pool);
}

TEST_CASE("an exception is rethrown only after the chunks already running have finished",
          "[exceptions]") {
  weft::thread_pool pool(4);
  std::atomic<int> running{0};
  std::atomic<bool> thrown{false};
  std::atomic<int> running_when_caught{-1};
  std::atomic<int> others{0};
  try {
    weft::parallel_for(pool, weft::chunked(0, 1000, 1), [&](weft::chunk<int> c) {
      ++running;
      if (c.first() == 0) {
        wait_for(others, 1);
        thrown.store(true);
        --running;
        throw body_error("stop");
      }
      ++others;
      wait_for(thrown);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      --running;
    });
  } catch (const body_error&) {
    running_when_caught = running.load();
  }
  REQUIRE(others.load() >= 1);
  REQUIRE(running_when_caught.load() == 0);
  check_pool_usable(pool);
}

TEST_CASE("the pool stays usable after many failed primitives", "[exceptions]") {
  weft::thread_pool pool(3);
  for (int round = 0; round < 50; ++round) {
    REQUIRE_THROWS_AS(weft::parallel_for(pool, 0, 2000,
                                         [&](int i) {
                                           if (i % 97 == round % 97) throw body_error("round");
                                         }),
                      body_error);
  }
  check_pool_usable(pool);
}
