// A seeded, time-bounded stress test: three threads from outside keep feeding one pool with
// nested join / task_group / parallel_for / isolate work, by direct calls and by submit, and
// every result is checked against the same computation done sequentially.
//
// WEFT_STRESS_SECONDS sets how long it runs (default 3 s, 1 s in sanitizer builds);
// WEFT_STRESS_SEED sets the seed (printed on failure).
#include <weft/weft.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "timeouts.hpp"

namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr double default_seconds = 1.0;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr double default_seconds = 1.0;
#else
constexpr double default_seconds = 3.0;
#endif
#else
constexpr double default_seconds = 3.0;
#endif

double stress_seconds() {
  if (const char* text = std::getenv("WEFT_STRESS_SECONDS")) {
    char* end = nullptr;
    const double value = std::strtod(text, &end);
    if (end != text && value > 0) return value;
  }
  return default_seconds;
}

std::uint64_t stress_seed() {
  if (const char* text = std::getenv("WEFT_STRESS_SEED")) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 0);
    if (end != text) return value;
  }
  return 0x5eed'2024'0001ULL;
}

std::uint64_t mix(std::uint64_t x, std::uint64_t salt) noexcept {  // splitmix64
  x += 0x9E3779B97F4A7C15ULL * (salt + 1);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::uint64_t leaf(std::uint64_t seed) noexcept {
  std::uint64_t value = seed;
  for (int i = 0; i < 16; ++i) value = mix(value, static_cast<std::uint64_t>(i));
  return value % 1000003;
}

// The shape of the work at one node, and how many children it has.
int shape_of(std::uint64_t seed) noexcept {
  return static_cast<int>(seed % 4);
}
int children_of(std::uint64_t seed) noexcept {
  return 2 + static_cast<int>((seed >> 8) % 3);
}

// The reference: the same tree, computed sequentially.
std::uint64_t expected(int depth, std::uint64_t seed) {
  if (depth == 0) return leaf(seed);
  const int shape = shape_of(seed);
  const int children = shape == 0 ? 2 : children_of(seed);
  std::uint64_t sum = leaf(seed);
  for (int i = 0; i < children; ++i)
    sum += expected(depth - 1, mix(seed, static_cast<std::uint64_t>(i)));
  return sum;
}

// The same tree on the pool: each node is a join, a task_group, a parallel_for over chunks or an
// isolated task_group, chosen by its seed.
std::uint64_t parallel(weft::thread_pool& pool, int depth, std::uint64_t seed) {
  if (depth == 0) return leaf(seed);
  const int shape = shape_of(seed);
  const auto child = [&](int i) {
    return parallel(pool, depth - 1, mix(seed, static_cast<std::uint64_t>(i)));
  };
  std::uint64_t sum = leaf(seed);
  if (shape == 0) {
    auto [a, b] = weft::join(
        pool, [&] { return child(0); }, [&] { return child(1); });
    return sum + a + b;
  }
  const int children = children_of(seed);
  std::array<std::uint64_t, 4> results{};
  if (shape == 1) {
    weft::task_group group{pool};
    for (int i = 0; i < children; ++i)
      group.run([&results, &child, i] { results[static_cast<std::size_t>(i)] = child(i); });
    group.wait();
  } else if (shape == 2) {
    weft::parallel_for(pool, weft::chunked(0, children, 1), [&](weft::chunk<int> c) {
      for (int i : c) results[static_cast<std::size_t>(i)] = child(i);
    });
  } else {
    weft::isolate(pool, [&] {
      weft::task_group group{pool};
      for (int i = 0; i < children; ++i)
        group.run([&results, &child, i] { results[static_cast<std::size_t>(i)] = child(i); });
      group.wait();
    });
  }
  for (int i = 0; i < children; ++i) sum += results[static_cast<std::size_t>(i)];
  return sum;
}

struct feeder_report {
  long operations = 0;
  long mismatches = 0;
  std::string first_mismatch;
};

}  // namespace

TEST_CASE(
    "stress: nested join, task_group, parallel_for and isolate from 3 outside threads give exact "
    "results") {
  const double seconds = stress_seconds();
  const std::uint64_t seed = stress_seed();
  INFO("WEFT_STRESS_SEED=" << seed << " WEFT_STRESS_SECONDS=" << seconds);

  weft::thread_pool pool{3};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);

  std::vector<std::future<feeder_report>> feeders;
  for (int t = 0; t < 3; ++t) {
    feeders.push_back(std::async(std::launch::async, [&pool, deadline, seed, t] {
      feeder_report report;
      std::mt19937_64 random(mix(seed, static_cast<std::uint64_t>(100 + t)));
      const auto check = [&](std::uint64_t got, int depth, std::uint64_t node_seed,
                             const char* how) {
        ++report.operations;
        if (got != expected(depth, node_seed) && report.mismatches++ == 0)
          report.first_mismatch = std::string(how) + " depth " + std::to_string(depth) + " seed " +
                                  std::to_string(node_seed);
      };
      while (std::chrono::steady_clock::now() < deadline) {
        const int depth = 1 + static_cast<int>(random() % 5);
        const std::uint64_t node_seed = random();
        switch (random() % 4) {
          case 0:  // from outside, directly
            check(parallel(pool, depth, node_seed), depth, node_seed, "direct");
            break;
          case 1: {  // as a submitted task
            auto future =
                pool.submit([&pool, depth, node_seed] { return parallel(pool, depth, node_seed); });
            check(weft_test::get(future), depth, node_seed, "submit");
            break;
          }
          case 2: {  // several submitted at once, collected afterwards
            std::vector<std::future<std::uint64_t>> batch;
            std::vector<std::uint64_t> seeds;
            for (int k = 0; k < 4; ++k) {
              seeds.push_back(random());
              batch.push_back(pool.submit(&parallel, std::ref(pool), depth, seeds.back()));
            }
            for (std::size_t k = 0; k < batch.size(); ++k)
              check(weft_test::get(batch[k]), depth, seeds[k], "batch");
            break;
          }
          default: {  // a parallel_for whose body runs whole trees
            std::array<std::uint64_t, 8> seeds{};
            std::array<std::uint64_t, 8> got{};
            for (auto& s : seeds) s = random();
            weft::parallel_for(pool, weft::chunked(std::size_t{0}, seeds.size(), 1),
                               [&](weft::chunk<std::size_t> c) {
                                 for (std::size_t i : c) got[i] = parallel(pool, depth, seeds[i]);
                               });
            for (std::size_t i = 0; i < seeds.size(); ++i)
              check(got[i], depth, seeds[i], "parallel_for");
            break;
          }
        }
      }
      return report;
    }));
  }

  long operations = 0;
  for (auto& feeder : feeders) {
    if (feeder.wait_until(deadline + weft_test::deadlock_limit) != std::future_status::ready)
      weft_test::deadlocked("a feeder thread");
    const feeder_report report = feeder.get();
    INFO("first mismatch: " << report.first_mismatch);
    CHECK(report.mismatches == 0);
    CHECK(report.operations > 0);
    operations += report.operations;
  }
  REQUIRE(operations > 0);

  // The pool is idle and healthy afterwards.
  auto last = pool.submit([&pool] { return parallel(pool, 3, 42); });
  REQUIRE(weft_test::get(last) == expected(3, 42));
}
