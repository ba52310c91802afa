// weft::controls: stopping through a std::stop_token, and progress reports.
#include <weft/weft.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"

namespace {

// Records progress calls, and whether two of them ever overlapped.
struct progress_log {
  std::mutex mutex;
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  std::atomic<bool> inside{false};
  std::atomic<int> overlaps{0};

  std::function<void(std::size_t, std::size_t)> callback() {
    return [this](std::size_t done, std::size_t total) {
      if (inside.exchange(true)) ++overlaps;
      {
        std::lock_guard lock(mutex);
        calls.emplace_back(done, total);
      }
      inside.store(false);
    };
  }

  // Checks the contract on everything recorded: done <= total, the same total every time,
  // non-decreasing done, no overlap, and a final call (total, total).
  void check(std::size_t expected_total) {
    std::lock_guard lock(mutex);
    INFO("progress calls: " << calls.size());
    REQUIRE(overlaps.load() == 0);
    REQUIRE_FALSE(calls.empty());
    std::size_t previous = 0;
    std::size_t wrong_total = 0;
    std::size_t beyond_total = 0;
    std::size_t out_of_order = 0;
    for (const auto& [done, total] : calls) {
      if (total != expected_total) ++wrong_total;
      if (done > total) ++beyond_total;
      if (done < previous) ++out_of_order;
      previous = std::max(previous, done);
    }
    REQUIRE(wrong_total == 0);
    REQUIRE(beyond_total == 0);
    REQUIRE(out_of_order == 0);
    REQUIRE(calls.back() == std::make_pair(expected_total, expected_total));
  }
};

// A body that notes every chunk it starts, and requests a stop when the `stop_at`-th starts.
struct stopping_body {
  std::stop_source& source;
  std::size_t stop_at;
  std::atomic<std::size_t> started{0};
  std::atomic<bool> requested{false};
  std::atomic<std::size_t> started_after_request{0};

  void on_chunk() {
    if (requested.load()) ++started_after_request;
    if (started.fetch_add(1) + 1 == stop_at) {
      source.request_stop();
      requested.store(true);
    }
  }
};

// Counts its live instances; not default-constructible.
std::atomic<long> live_instances{0};
struct counted {
  explicit counted(long v) : value(v) { ++live_instances; }
  counted(const counted& other) : value(other.value) { ++live_instances; }
  counted(counted&& other) noexcept : value(other.value) { ++live_instances; }
  ~counted() { --live_instances; }
  long value;
};

constexpr std::size_t workers = 4;
// A chunk that had passed its stop check when the stop came may still start: one per thread that
// runs chunks (the workers and the caller), with a margin for scheduling.
constexpr std::size_t late_bound = 2 * (workers + 1);

}  // namespace

TEST_CASE("a stop requested before the call runs no chunk and reports stopped", "[controls]") {
  weft::thread_pool pool(workers);
  std::stop_source source;
  source.request_stop();
  const weft::controls ctl{.stop = source.get_token()};
  std::atomic<int> calls{0};

  for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{10000}}) {
    INFO("n = " << n);
    std::vector<int> v(n, 1);
    REQUIRE(weft::parallel_for(
                pool, std::size_t{0}, n, [&](std::size_t) { ++calls; }, ctl) ==
            weft::status::stopped);
    REQUIRE(weft::parallel_for(
                pool, weft::chunked(std::size_t{0}, n, 1),
                [&](weft::chunk<std::size_t>) { ++calls; }, ctl) == weft::status::stopped);
    REQUIRE(weft::parallel_for(
                pool, v, [&](int&) { ++calls; }, ctl) == weft::status::stopped);
    REQUIRE_FALSE(weft::parallel_map(
                      pool, v,
                      [&](int x) {
                        ++calls;
                        return x;
                      },
                      ctl)
                      .has_value());
    REQUIRE_FALSE(weft::parallel_reduce(
                      pool, v, 0,
                      [&](int a, int b) {
                        ++calls;
                        return a + b;
                      },
                      ctl)
                      .has_value());
    REQUIRE_FALSE(weft::parallel_reduce(
                      pool, v, 0,
                      [&](int x) {
                        ++calls;
                        return x;
                      },
                      std::plus<>{}, ctl)
                      .has_value());
    REQUIRE_FALSE(weft::parallel_reduce(
                      pool, weft::chunked(std::size_t{0}, n, 3), 0,
                      [&](weft::chunk<std::size_t>) {
                        ++calls;
                        return 1;
                      },
                      std::plus<>{}, ctl)
                      .has_value());
    std::vector<int> out(n, -7);
    REQUIRE(weft::parallel_inclusive_scan(
                pool, v, out.begin(),
                [&](int a, int b) {
                  ++calls;
                  return a + b;
                },
                ctl) == weft::status::stopped);
    REQUIRE(weft::parallel_exclusive_scan(
                pool, v, out.begin(), 0,
                [&](int a, int b) {
                  ++calls;
                  return a + b;
                },
                ctl) == weft::status::stopped);
    REQUIRE(std::count(out.begin(), out.end(), -7) == static_cast<long>(n));
    // The same through default_pool().
    REQUIRE(weft::parallel_for(
                std::size_t{0}, n, [&](std::size_t) { ++calls; }, ctl) == weft::status::stopped);
    REQUIRE_FALSE(weft::parallel_map(
                      v,
                      [&](int x) {
                        ++calls;
                        return x;
                      },
                      ctl)
                      .has_value());
    REQUIRE_FALSE(weft::parallel_reduce(v, 0, std::plus<>{}, ctl).has_value());
  }
  REQUIRE(calls.load() == 0);
}

TEST_CASE("a stop requested from inside a body starts no new chunks and reports stopped",
          "[controls]") {
  weft::thread_pool pool(workers);
  const std::size_t n = 100000;

  SECTION("parallel_for over chunks") {
    std::stop_source source;
    stopping_body body{source, 100};
    const auto result = weft::parallel_for(
        pool, weft::chunked(std::size_t{0}, n, 1),
        [&](weft::chunk<std::size_t>) { body.on_chunk(); },
        weft::controls{.stop = source.get_token()});
    REQUIRE(result == weft::status::stopped);
    REQUIRE(body.started.load() >= 100);
    REQUIRE(body.started.load() < n);
    REQUIRE(body.started_after_request.load() <= late_bound);
  }
  SECTION("parallel_for over indices") {
    std::stop_source source;
    stopping_body body{source, 5000};
    const auto result = weft::parallel_for(
        pool, std::size_t{0}, n, [&](std::size_t) { body.on_chunk(); },
        weft::controls{.stop = source.get_token()});
    REQUIRE(result == weft::status::stopped);
    REQUIRE(body.started.load() < n);
    // Counted per index here: a chunk that started finishes all of its indices.
    REQUIRE(body.started_after_request.load() <= late_bound * weft::automatic_grain(n));
  }
  SECTION("parallel_map") {
    std::stop_source source;
    stopping_body body{source, 3000};
    std::vector<int> v(n, 1);
    const auto result = weft::parallel_map(
        pool, v,
        [&](int x) {
          body.on_chunk();
          return x;
        },
        weft::controls{.stop = source.get_token()});
    REQUIRE_FALSE(result.has_value());
    REQUIRE(body.started.load() < n);
  }
  SECTION("parallel_map of a type that is not default-constructible destroys what it built") {
    std::stop_source source;
    stopping_body body{source, 3000};
    std::vector<long> v(n, 1);
    live_instances = 0;
    const auto result = weft::parallel_map(
        pool, v,
        [&](long x) {
          body.on_chunk();
          return counted(x);
        },
        weft::controls{.stop = source.get_token()});
    REQUIRE_FALSE(result.has_value());
    REQUIRE(body.started.load() >= 3000);
    REQUIRE(live_instances.load() == 0);
  }
  SECTION("parallel_reduce over chunks") {
    std::stop_source source;
    stopping_body body{source, 100};
    const auto result = weft::parallel_reduce(
        pool, weft::chunked(std::size_t{0}, n, 1), 0,
        [&](weft::chunk<std::size_t>) {
          body.on_chunk();
          return 1;
        },
        std::plus<>{}, weft::controls{.stop = source.get_token()});
    REQUIRE_FALSE(result.has_value());
    REQUIRE(body.started.load() < n);
    REQUIRE(body.started_after_request.load() <= late_bound);
  }
  SECTION("parallel_reduce over elements") {
    std::stop_source source;
    stopping_body body{source, 3000};
    std::vector<int> v(n, 1);
    const auto result = weft::parallel_reduce(
        pool, v, 0,
        [&](int x) {
          body.on_chunk();
          return x;
        },
        std::plus<>{}, weft::controls{.stop = source.get_token()});
    REQUIRE_FALSE(result.has_value());
    REQUIRE(body.started.load() < n);
  }
  SECTION("parallel_inclusive_scan") {
    std::stop_source source;
    stopping_body body{source, 3000};
    std::vector<int> v(n, 1);
    std::vector<int> out(n);
    const auto result = weft::parallel_inclusive_scan(
        pool, v, out.begin(),
        [&](int a, int b) {
          body.on_chunk();
          return a + b;
        },
        weft::controls{.stop = source.get_token()});
    REQUIRE(result == weft::status::stopped);
    REQUIRE(body.started.load() < 2 * n);  // two passes at most would call op about 2n times
  }
}

TEST_CASE("a stop requested after the work completed changes nothing", "[controls]") {
  weft::thread_pool pool(workers);
  SECTION("a stop after the call returned") {
    std::stop_source source;
    std::atomic<int> calls{0};
    const auto result = weft::parallel_for(
        pool, 0, 1000, [&](int) { ++calls; }, weft::controls{.stop = source.get_token()});
    source.request_stop();
    REQUIRE(result == weft::status::completed);
    REQUIRE(calls.load() == 1000);
  }
  SECTION("a stop requested by the only chunk, which had already started") {
    std::stop_source source;
    const weft::controls ctl{.stop = source.get_token()};
    REQUIRE(weft::parallel_for(
                pool, weft::chunked(0, 10, 100), [&](weft::chunk<int>) { source.request_stop(); },
                ctl) == weft::status::completed);
  }
  SECTION("parallel_map whose only chunk requests a stop returns every result") {
    std::stop_source source;
    const std::vector<int> v{4};  // one element: one chunk
    const auto result = weft::parallel_map(
        pool, v,
        [&](int x) {
          source.request_stop();
          return 10 * x;
        },
        weft::controls{.stop = source.get_token()});
    REQUIRE(result.has_value());
    REQUIRE(*result == std::vector<int>{40});
  }
  SECTION("parallel_reduce whose only chunk requests a stop returns the value") {
    std::stop_source source;
    const auto result = weft::parallel_reduce(
        pool, weft::chunked(0, 50, 50), 0,
        [&](weft::chunk<int> c) {
          source.request_stop();
          return static_cast<int>(c.size());
        },
        std::plus<>{}, weft::controls{.stop = source.get_token()});
    REQUIRE(result == std::optional<int>(50));
  }
  SECTION("a token that is never stopped: completed, with the full result") {
    std::stop_source source;
    const weft::controls ctl{.stop = source.get_token()};
    std::vector<int> v(5000, 2);
    REQUIRE(weft::parallel_for(
                pool, v, [](int& x) { ++x; }, ctl) == weft::status::completed);
    REQUIRE(std::count(v.begin(), v.end(), 3) == 5000);
    REQUIRE(weft::parallel_reduce(pool, v, 0, std::plus<>{}, ctl) == std::optional<int>(15000));
    const auto mapped = weft::parallel_map(
        pool, v, [](int x) { return x - 3; }, ctl);
    REQUIRE(mapped.has_value());
    REQUIRE(std::count(mapped->begin(), mapped->end(), 0) == 5000);
  }
}

TEST_CASE("progress is called with done <= total, never concurrently, and finally (total, total)",
          "[controls]") {
  weft::thread_pool pool(workers);
  const std::size_t n = WEFT_TEST_SANITIZED ? 20000 : 200000;
  // An interval of zero: as many reports as the library will make, so overlaps would show.
  for (auto interval : {std::chrono::milliseconds(0), std::chrono::milliseconds(50)}) {
    INFO("interval = " << interval.count() << " ms");
    {  // parallel_for over chunks
      progress_log log;
      const weft::controls ctl{.progress = log.callback(), .progress_interval = interval};
      REQUIRE(weft::parallel_for(
                  pool, weft::chunked(std::size_t{0}, n, 7), [](weft::chunk<std::size_t>) {},
                  ctl) == weft::status::completed);
      log.check(n);
    }
    {  // parallel_for over indices
      progress_log log;
      const weft::controls ctl{.progress = log.callback(), .progress_interval = interval};
      std::atomic<std::size_t> calls{0};
      REQUIRE(weft::parallel_for(
                  pool, 0, n, [&](std::size_t) { ++calls; }, ctl) == weft::status::completed);
      REQUIRE(calls.load() == n);
      log.check(n);
    }
    {  // parallel_map
      progress_log log;
      const weft::controls ctl{.progress = log.callback(), .progress_interval = interval};
      std::vector<int> v(n, 4);
      const auto out = weft::parallel_map(
          pool, v, [](int x) { return x + 1; }, ctl);
      REQUIRE(out.has_value());
      REQUIRE(out->size() == n);
      log.check(n);
    }
    {  // parallel_reduce
      progress_log log;
      const weft::controls ctl{.progress = log.callback(), .progress_interval = interval};
      std::vector<int> v(n, 1);
      REQUIRE(weft::parallel_reduce(pool, v, 0, std::plus<>{}, ctl) ==
              std::optional<int>(static_cast<int>(n)));
      log.check(n);
    }
    {  // parallel_inclusive_scan
      progress_log log;
      const weft::controls ctl{.progress = log.callback(), .progress_interval = interval};
      std::vector<int> v(n, 1);
      std::vector<int> out(n);
      REQUIRE(weft::parallel_inclusive_scan(pool, v, out.begin(), std::plus<>{}, ctl) ==
              weft::status::completed);
      REQUIRE(out.back() == static_cast<int>(n));
      log.check(n);
    }
  }
}

TEST_CASE("progress reports are non-decreasing, repeatedly, on a busy pool", "[controls]") {
  // Many short chunks and an interval of zero, many times: the reports race as hard as they can.
  weft::thread_pool pool(workers);
  const std::size_t n = WEFT_TEST_SANITIZED ? 5000 : 50000;
  for (int repeat = 0; repeat < (WEFT_TEST_SANITIZED ? 5 : 40); ++repeat) {
    progress_log log;
    const weft::controls ctl{.progress = log.callback(),
                             .progress_interval = std::chrono::milliseconds(0)};
    weft::parallel_for(
        pool, weft::chunked(std::size_t{0}, n, 1), [](weft::chunk<std::size_t>) {}, ctl);
    log.check(n);
  }
}

TEST_CASE("an empty range reports its completion as (0, 0)", "[controls]") {
  weft::thread_pool pool(2);
  progress_log log;
  const weft::controls ctl{.progress = log.callback()};
  REQUIRE(weft::parallel_for(
              pool, 5, 5, [](int) {}, ctl) == weft::status::completed);
  log.check(0);
}

TEST_CASE("without a progress function nothing is reported and the work completes", "[controls]") {
  weft::thread_pool pool(workers);
  std::atomic<int> reports{0};
  weft::controls with_progress{.progress = [&](std::size_t, std::size_t) { ++reports; }};
  const weft::controls without = {};
  std::vector<int> v(10000, 1);
  REQUIRE(weft::parallel_for(
              pool, v, [](int& x) { x *= 2; }, without) == weft::status::completed);
  REQUIRE(weft::parallel_reduce(pool, v, 0, std::plus<>{}, without) == std::optional<int>(20000));
  REQUIRE(weft::parallel_map(
              pool, v, [](int x) { return x; }, without)
              .has_value());
  REQUIRE(reports.load() == 0);
  // The counting function itself works: with it set, it is called.
  REQUIRE(weft::parallel_for(
              pool, v, [](int&) {}, with_progress) == weft::status::completed);
  REQUIRE(reports.load() >= 1);
}

TEST_CASE("an exception thrown by the progress function reaches the caller", "[controls]") {
  weft::thread_pool pool(workers);
  const weft::controls ctl{
      .progress = [](std::size_t, std::size_t) { throw std::runtime_error("progress"); },
      .progress_interval = std::chrono::milliseconds(0)};
  REQUIRE_THROWS_AS(weft::parallel_for(
                        pool, 0, 10000, [](int) {}, ctl),
                    std::runtime_error);
  // The pool is still usable.
  std::atomic<int> calls{0};
  weft::parallel_for(pool, 0, 1000, [&](int) { ++calls; });
  REQUIRE(calls.load() == 1000);
}
