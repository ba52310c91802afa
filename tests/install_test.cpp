// Tests of weft::install: f runs as part of the pool, on the calling thread in a caller slot (a
// worker standing aside meanwhile when the pool has a worker per CPU), and its result or exception
// comes back to the caller.
#include <weft/weft.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "timeouts.hpp"

namespace {

using weft_test::await;

long sum_below(weft::thread_pool& pool, int n) {
  std::vector<int> values(static_cast<std::size_t>(n));
  std::iota(values.begin(), values.end(), 0);
  return weft::parallel_reduce(
      pool, values, 0L, [](int v) { return static_cast<long>(v); }, std::plus<>{});
}

}  // namespace

TEST_CASE("install returns what f returns and rethrows what f throws") {
  weft::thread_pool pool{2};
  REQUIRE(weft::install(pool, [] { return 42; }) == 42);
  auto owned = weft::install(pool, [] { return std::make_unique<std::string>("moved out"); });
  REQUIRE(*owned == "moved out");
  int ran = 0;
  weft::install(pool, [&] { ++ran; });
  REQUIRE(ran == 1);
  REQUIRE_THROWS_WITH(weft::install(pool, []() -> int { throw std::runtime_error("from f"); }),
                      "from f");
  REQUIRE(weft::install(pool, [&] { return sum_below(pool, 1000); }) == 999L * 1000 / 2);
  REQUIRE(weft::install([] { return weft::default_pool().participant_index().has_value(); }));
}

TEST_CASE("install runs f as a participant of the pool, whatever the pool's size") {
  for (std::size_t workers : {std::size_t{1}, std::size_t{2}, std::size_t{5}}) {
    CAPTURE(workers);
    weft::thread_pool pool{workers};
    for (int round = 0; round < 20; ++round) {
      const auto [index, sum] = weft::install(pool, [&] {
        return std::pair{pool.participant_index(), sum_below(pool, 10000)};
      });
      REQUIRE(index.has_value());
      REQUIRE(*index < pool.max_participants());
      REQUIRE(sum == 9999L * 10000 / 2);
    }
    REQUIRE_FALSE(pool.participant_index().has_value());  // the caller's slot was given back
  }
}

TEST_CASE("install from inside a task runs f on that task's thread") {
  weft::thread_pool pool{2};
  auto result = pool.submit([&pool] {
    const auto outer_thread = std::this_thread::get_id();
    const auto outer_index = pool.participant_index();
    return weft::install(pool, [&] {
      return std::this_thread::get_id() == outer_thread && pool.participant_index() == outer_index;
    });
  });
  await(result);
  REQUIRE(result.get());
}

TEST_CASE("install runs f on the calling thread, in a caller slot, whatever the pool's size") {
  const std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t workers : {std::size_t{1}, cpus}) {
    CAPTURE(workers);
    weft::thread_pool pool{workers};
    const auto caller = std::this_thread::get_id();
    for (int round = 0; round < 20; ++round) {
      const auto [thread, index] = weft::install(pool, [&] {
        return std::pair{std::this_thread::get_id(), pool.participant_index()};
      });
      REQUIRE(thread == caller);
      REQUIRE(index.has_value());
      REQUIRE(*index >= pool.size());  // a caller slot, not a worker
    }
  }
}

TEST_CASE("with a worker per CPU, a worker stands aside while an installed driver runs") {
  weft::thread_pool pool{std::max(1u, std::thread::hardware_concurrency())};
  if (!pool.core().callers_displace_workers()) {
    SUCCEED("the affinity mask holds fewer CPUs than the machine: the caller adds a CPU");
    return;
  }
  const bool one_aside = weft::install(pool, [&] {
    return weft_test::eventually([&] { return pool.core().standing_aside() == 1; });
  });
  REQUIRE(one_aside);
  REQUIRE(pool.core().callers_running() == 0);
  // The worker sleeps on until work comes: a task for every worker, all at once, brings it back.
  const std::size_t workers = pool.size();
  std::atomic<std::size_t> running{0};
  std::vector<std::future<bool>> all_at_once;
  for (std::size_t w = 0; w < workers; ++w)
    all_at_once.push_back(pool.submit([&] {
      running.fetch_add(1);
      return weft_test::eventually([&] { return running.load() == workers; });
    }));
  for (auto& task : all_at_once) REQUIRE(weft_test::get(task, "a task beside every worker"));
  REQUIRE(pool.core().standing_aside() == 0);
}
