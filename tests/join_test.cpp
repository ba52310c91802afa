// Tests of weft::join: results, exceptions, nesting, calls from outside and across pools.
#include <weft/weft.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "timeouts.hpp"

namespace {

using namespace std::chrono_literals;

using weft_test::await;
using weft_test::eventually;

long fib_sequential(int n) {
  return n < 2 ? n : fib_sequential(n - 1) + fib_sequential(n - 2);
}

long fib_join(weft::thread_pool& pool, int n) {
  if (n < 2) return n;
  auto [a, b] = weft::join(
      pool, [&] { return fib_join(pool, n - 1); }, [&] { return fib_join(pool, n - 2); });
  return a + b;
}

struct first_error : std::runtime_error {
  first_error() : std::runtime_error("first") {}
};
struct second_error : std::runtime_error {
  second_error() : std::runtime_error("second") {}
};

}  // namespace

TEST_CASE("join runs both callables and returns both results") {
  weft::thread_pool pool{2};
  auto [a, b] = weft::join(
      pool, [] { return 1; }, [] { return std::string("two"); });
  STATIC_REQUIRE(std::is_same_v<decltype(a), int>);
  STATIC_REQUIRE(std::is_same_v<decltype(b), std::string>);
  REQUIRE(a == 1);
  REQUIRE(b == "two");

  int left = 0;
  int right = 0;
  weft::join(
      pool, [&] { left = 10; }, [&] { right = 20; });
  REQUIRE(left == 10);
  REQUIRE(right == 20);
}

TEST_CASE("join gives std::monostate for a void callable") {
  weft::thread_pool pool{2};
  std::atomic<int> touched{0};
  auto both_void = weft::join(
      pool, [&] { ++touched; }, [&] { ++touched; });
  STATIC_REQUIRE(std::is_same_v<decltype(both_void), std::pair<std::monostate, std::monostate>>);
  REQUIRE(touched == 2);
  auto [a, b] = weft::join(
      pool, [] {}, [] { return 3.5; });
  STATIC_REQUIRE(std::is_same_v<decltype(a), std::monostate>);
  REQUIRE(b == 3.5);
  auto [c, d] = weft::join(
      pool, [] { return 'x'; }, [] {});
  STATIC_REQUIRE(std::is_same_v<decltype(d), std::monostate>);
  REQUIRE(c == 'x');
}

TEST_CASE("join returns move-only results and accepts move-only callables") {
  weft::thread_pool pool{2};
  auto left_owned = std::make_unique<int>(4);
  auto [a, b] = weft::join(
      pool, [p = std::move(left_owned)]() mutable { return std::move(p); },
      [] { return std::make_unique<std::string>("five"); });
  REQUIRE(a != nullptr);
  REQUIRE(*a == 4);
  REQUIRE(b != nullptr);
  REQUIRE(*b == "five");
}

TEST_CASE("join rethrows the first callable's exception when both throw") {
  weft::thread_pool pool{2};
  for (int i = 0; i < 50; ++i) {
    std::atomic<int> finished{0};
    REQUIRE_THROWS_AS(weft::join(
                          pool,
                          [&] {
                            finished.fetch_add(1);
                            throw first_error();
                          },
                          [&] {
                            finished.fetch_add(1);
                            throw second_error();
                          }),
                      first_error);
    REQUIRE(finished.load() == 2);  // both ran to the end before join returned
  }
}

TEST_CASE("join rethrows the second callable's exception when only it throws") {
  weft::thread_pool pool{2};
  for (int i = 0; i < 50; ++i) {
    std::atomic<bool> first_ran{false};
    REQUIRE_THROWS_AS(weft::join(
                          pool,
                          [&] {
                            first_ran.store(true);
                            return 1;
                          },
                          []() -> int { throw second_error(); }),
                      second_error);
    REQUIRE(first_ran.load());
  }
  // The first callable's exception alone also comes through, after the second finished.
  std::atomic<bool> second_ran{false};
  REQUIRE_THROWS_AS(
      weft::join(
          pool, []() -> int { throw first_error(); }, [&] { second_ran.store(true); }),
      first_error);
  REQUIRE(second_ran.load());
  // And the pool is still usable.
  auto [a, b] = weft::join(
      pool, [] { return 1; }, [] { return 2; });
  REQUIRE(a + b == 3);
}

TEST_CASE("join works from outside the pool, from many threads at once") {
  weft::thread_pool pool{2};
  // More callers than the pool has caller slots: the extra ones must still complete.
  constexpr int callers = 8;
  std::vector<std::future<long>> results;
  for (int t = 0; t < callers; ++t) {
    results.push_back(std::async(std::launch::async, [&pool, t] {
      long sum = 0;
      for (int i = 0; i < 200; ++i) {
        auto [a, b] = weft::join(
            pool, [&] { return fib_join(pool, 8); }, [t] { return long{t}; });
        sum += a + b;
      }
      return sum;
    }));
  }
  for (int t = 0; t < callers; ++t) {
    await(results[static_cast<std::size_t>(t)]);
    REQUIRE(results[static_cast<std::size_t>(t)].get() == 200 * (fib_sequential(8) + t));
  }
}

TEST_CASE("join computes fib(25) like the sequential recursion") {
  weft::thread_pool pool{2};
  REQUIRE(fib_join(pool, 25) == fib_sequential(25));
  // From inside a task too.
  auto inside = pool.submit([&pool] { return fib_join(pool, 20); });
  await(inside);
  REQUIRE(inside.get() == fib_sequential(20));
}

TEST_CASE("join nests to depth 4 inside a task_group and parallel_for on a 2-worker pool") {
  weft::thread_pool pool{2};
  std::atomic<long> leaves{0};
  auto whole = pool.submit([&] {
    weft::task_group group{pool};
    for (int g = 0; g < 4; ++g) {
      group.run([&] {
        weft::parallel_for(pool, 0, 8, [&](int) {
          weft::join(
              pool,
              [&] {
                weft::join(
                    pool, [&] { leaves.fetch_add(1); }, [&] { leaves.fetch_add(1); });
              },
              [&] {
                weft::join(
                    pool, [&] { leaves.fetch_add(1); }, [&] { leaves.fetch_add(1); });
              });
        });
      });
    }
    group.wait();
  });
  await(whole);
  whole.get();
  REQUIRE(leaves.load() == 4 * 8 * 4);
}

TEST_CASE("join on one pool works from inside a task of another pool") {
  weft::thread_pool pool_a{2};
  weft::thread_pool pool_b{2};
  std::vector<std::future<long>> results;
  for (int i = 0; i < 6; ++i) {
    results.push_back(pool_b.submit([&] {
      // Inside pool_b's worker, join on pool_a, and nest a join on pool_b inside that.
      auto [x, y] = weft::join(
          pool_a, [&] { return fib_join(pool_a, 15); },
          [&] {
            auto [p, q] = weft::join(
                pool_b, [] { return 1L; }, [] { return 2L; });
            return p + q;
          });
      return x + y;
    }));
  }
  for (auto& result : results) {
    await(result);
    REQUIRE(result.get() == fib_sequential(15) + 3);
  }
  // Still usable afterwards, and pool_b's worker is pool_b's participant again.
  auto index = pool_b.submit([&] {
    weft::join(
        pool_a, [] {}, [] {});
    return pool_b.participant_index();
  });
  await(index);
  auto value = index.get();
  REQUIRE(value.has_value());
  REQUIRE(*value < pool_b.size());
}

TEST_CASE("join from outside runs both callables at once on a 2-worker pool") {
  weft::thread_pool pool{2};
  for (int round = 0; round < 20; ++round) {
    std::atomic<bool> first_started{false};
    std::atomic<bool> second_started{false};
    // Each side waits for the other: they meet only if they run at the same time.
    auto [met_first, met_second] = weft::join(
        pool,
        [&] {
          first_started.store(true);
          return eventually([&] { return second_started.load(); });
        },
        [&] {
          second_started.store(true);
          return eventually([&] { return first_started.load(); });
        });
    INFO("round " << round);
    REQUIRE(met_first);
    REQUIRE(met_second);
  }
}
