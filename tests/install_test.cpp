// Tests of weft::install: f runs as part of the pool (on a worker when the pool has a worker per
// CPU, on the calling thread otherwise), and its result or exception comes back to the caller.
#include <weft/weft.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
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

TEST_CASE("install runs f on a worker when the pool has a worker per CPU") {
  weft::thread_pool pool{std::max<std::size_t>(2, std::thread::hardware_concurrency())};
  if (!pool.core().hands_off_outside_calls()) {
    // hardware_concurrency() did not know the machine (0), which has more than 2 CPUs.
    SUCCEED("the pool has fewer workers than this process's CPUs");
    return;
  }
  // The caller takes f back when no worker starts it within 100 us, and a parked worker on a
  // loaded machine (sanitizers, other tests beside this one) may take longer than that to get a
  // CPU, call after call. So the calls go on for up to a few seconds rather than a fixed count,
  // and only one of them has to land on a worker.
  bool landed_on_a_worker = false;
  const auto give_up_at = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!landed_on_a_worker && std::chrono::steady_clock::now() < give_up_at) {
    const auto index = weft::install(pool, [&] { return pool.participant_index(); });
    REQUIRE(index.has_value());
    landed_on_a_worker = *index < pool.size();
  }
  REQUIRE(landed_on_a_worker);
}

TEST_CASE("install runs f on the calling thread when the pool has fewer workers than CPUs") {
  weft::thread_pool pool{1};
  if (pool.core().hands_off_outside_calls()) {
    SUCCEED("one CPU: a pool of one worker has a worker per CPU");
    return;
  }
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
