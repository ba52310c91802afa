// weft::parallel_for in its three forms (indices, chunks, elements), against a sequential loop.
#include <weft/weft.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <numeric>
#include <ranges>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"

namespace {

// One atomic counter per index: every index must be visited exactly once. (Catch2's assertions
// are not thread-safe, so bodies only count; the test thread checks.)
class visit_counter {
 public:
  explicit visit_counter(std::size_t n) : counts_(std::make_unique<std::atomic<int>[]>(n)), n_(n) {
    for (std::size_t i = 0; i < n; ++i) counts_[i].store(0);
  }
  void hit(std::size_t i) {
    if (i >= n_) {  // an out-of-range index is counted rather than written out of bounds
      out_of_range_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    counts_[i].fetch_add(1, std::memory_order_relaxed);
  }
  // The number of indices not visited exactly once, plus the visits out of range.
  std::size_t wrong() const {
    std::size_t bad = out_of_range_.load();
    for (std::size_t i = 0; i < n_; ++i)
      if (counts_[i].load() != 1) ++bad;
    return bad;
  }
  std::size_t total() const {
    std::size_t sum = 0;
    for (std::size_t i = 0; i < n_; ++i) sum += static_cast<std::size_t>(counts_[i].load());
    return sum;
  }

 private:
  std::unique_ptr<std::atomic<int>[]> counts_;
  std::size_t n_;
  std::atomic<std::size_t> out_of_range_{0};
};

}  // namespace

TEST_CASE("parallel_for over indices visits every index of [first, last) exactly once",
          "[parallel_for]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    INFO("n = " << n);
    visit_counter counter(n);
    weft::parallel_for(pool, std::size_t{0}, n, [&](std::size_t i) { counter.hit(i); });
    REQUIRE(counter.wrong() == 0);
    REQUIRE(counter.total() == n);
  }
}

TEST_CASE("parallel_for over indices gives the body the common index type", "[parallel_for]") {
  weft::thread_pool pool(3);
  std::vector<int> v(1000, 0);
  // int and size_t: the body receives size_t.
  weft::parallel_for(pool, 0, v.size(), [&](auto i) {
    static_assert(std::is_same_v<decltype(i), std::size_t>);
    v[i] += 1;
  });
  REQUIRE(std::count(v.begin(), v.end(), 1) == 1000);

  // short and long.
  std::atomic<long> sum{0};
  weft::parallel_for(pool, short{-5}, 100L, [&](auto i) {
    static_assert(std::is_same_v<decltype(i), long>);
    sum += i;
  });
  long expected = 0;
  for (long i = -5; i < 100; ++i) expected += i;
  REQUIRE(sum.load() == expected);
}

TEST_CASE("parallel_for over signed, unsigned and negative index ranges visits each index once",
          "[parallel_for]") {
  weft::thread_pool pool(4);
  SECTION("negative int range") {
    const int first = -1234;
    const int last = 777;
    visit_counter counter(static_cast<std::size_t>(last - first));
    weft::parallel_for(pool, first, last,
                       [&](int i) { counter.hit(static_cast<std::size_t>(i - first)); });
    REQUIRE(counter.wrong() == 0);
  }
  SECTION("entirely negative long long range") {
    const long long first = -5'000'000'000LL;
    const long long last = first + 3000;
    visit_counter counter(3000);
    weft::parallel_for(pool, first, last,
                       [&](long long i) { counter.hit(static_cast<std::size_t>(i - first)); });
    REQUIRE(counter.wrong() == 0);
  }
  SECTION("unsigned range not starting at zero") {
    visit_counter counter(500);
    weft::parallel_for(pool, 100u, 600u, [&](unsigned i) { counter.hit(i - 100u); });
    REQUIRE(counter.wrong() == 0);
  }
  SECTION("a range ending at the type's maximum") {
    visit_counter counter(100);
    weft::parallel_for(pool, INT_MAX - 100, INT_MAX,
                       [&](int i) { counter.hit(static_cast<std::size_t>(i - (INT_MAX - 100))); });
    REQUIRE(counter.wrong() == 0);
    const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
    visit_counter counter64(64);
    weft::parallel_for(pool, top - 64, top, [&](std::uint64_t i) {
      counter64.hit(static_cast<std::size_t>(i - (top - 64)));
    });
    REQUIRE(counter64.wrong() == 0);
  }
  SECTION("a negative first with an unsigned last throws and runs nothing") {
    std::atomic<int> calls{0};
    const std::vector<int> v(10);
    REQUIRE_THROWS_AS(weft::parallel_for(pool, -1, v.size(), [&](std::size_t) { ++calls; }),
                      std::invalid_argument);
    REQUIRE(calls.load() == 0);
  }
  SECTION("first greater than last throws std::invalid_argument and runs nothing") {
    std::atomic<int> calls{0};
    REQUIRE_THROWS_AS(weft::parallel_for(pool, 10, 3, [&](int) { ++calls; }),
                      std::invalid_argument);
    REQUIRE(calls.load() == 0);
  }
  SECTION("an empty index range runs nothing") {
    std::atomic<int> calls{0};
    weft::parallel_for(pool, 42, 42, [&](int) { ++calls; });
    weft::parallel_for(pool, -7L, -7L, [&](long) { ++calls; });
    REQUIRE(calls.load() == 0);
  }
}

TEST_CASE("parallel_for over chunks sees each chunk once, exactly as chunked_range defines it",
          "[parallel_for]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    for (std::size_t grain : {std::size_t{0}, std::size_t{1}, std::size_t{3}, n + 1}) {
      if (grain == 1 && n > 100000)
        continue;  // a million one-index chunks: fine, but slow under TSan
      INFO("n = " << n << ", grain = " << grain);
      const auto range = weft::chunked(std::size_t{0}, n, grain);
      visit_counter indices(n);
      visit_counter chunks(range.size());
      std::atomic<int> mismatches{0};
      weft::parallel_for(pool, range, [&](weft::chunk<std::size_t> c) {
        chunks.hit(c.index());
        const std::size_t g = range.grain();
        const std::size_t expected_first = c.index() * g;
        const std::size_t expected_last = std::min(expected_first + g, n);
        if (c.first() != expected_first || c.last() != expected_last || c.size() == 0) ++mismatches;
        for (std::size_t i : c) indices.hit(i);
      });
      REQUIRE(mismatches.load() == 0);
      REQUIRE(indices.wrong() == 0);
      REQUIRE(chunks.wrong() == 0);
      if (grain > n) REQUIRE(range.size() == (n == 0 ? 0u : 1u));
    }
  }
}

TEST_CASE("parallel_for over the chunks of a negative signed range", "[parallel_for]") {
  weft::thread_pool pool(3);
  visit_counter counter(2001);
  weft::parallel_for(pool, weft::chunked(-1000, 1001, 7), [&](weft::chunk<int> c) {
    for (int i : c) counter.hit(static_cast<std::size_t>(i + 1000));
  });
  REQUIRE(counter.wrong() == 0);
}

TEST_CASE("parallel_for over elements modifies each element through the reference",
          "[parallel_for]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    INFO("n = " << n);
    std::vector<long> v(n);
    std::iota(v.begin(), v.end(), 0L);
    weft::parallel_for(pool, v, [](long& x) { x = 3 * x + 1; });
    std::vector<long> expected(n);
    std::iota(expected.begin(), expected.end(), 0L);
    for (long& x : expected) x = 3 * x + 1;
    REQUIRE(v == expected);
  }
}

TEST_CASE("parallel_for over elements accepts vector, array, deque, span and rvalue ranges",
          "[parallel_for]") {
  weft::thread_pool pool(3);
  SECTION("std::array") {
    std::array<int, 37> a{};
    weft::parallel_for(pool, a, [](int& x) { x += 5; });
    for (int x : a) REQUIRE(x == 5);
  }
  SECTION("std::deque") {
    std::deque<int> d(3000);
    std::iota(d.begin(), d.end(), 0);
    weft::parallel_for(pool, d, [](int& x) { x *= 2; });
    for (std::size_t i = 0; i < d.size(); ++i) REQUIRE(d[i] == 2 * static_cast<int>(i));
  }
  SECTION("std::span over part of a vector") {
    std::vector<int> v(100, 1);
    weft::parallel_for(pool, std::span<int>(v).subspan(10, 50), [](int& x) { x = 9; });
    for (std::size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == (i >= 10 && i < 60 ? 9 : 1));
  }
  SECTION("an rvalue vector") {
    std::atomic<long> sum{0};
    weft::parallel_for(pool, std::vector<int>(1000, 2), [&](int& x) { sum += x; });
    REQUIRE(sum.load() == 2000);
  }
  SECTION("a const vector gives const references") {
    const std::vector<int> v(500, 3);
    std::atomic<long> sum{0};
    weft::parallel_for(pool, v, [&](const int& x) { sum += x; });
    REQUIRE(sum.load() == 1500);
  }
  SECTION("each element is visited exactly once") {
    std::vector<std::atomic<int>> hits(5000);
    weft::parallel_for(pool, hits, [](std::atomic<int>& h) { h.fetch_add(1); });
    for (auto& h : hits) REQUIRE(h.load() == 1);
  }
#if WEFT_TEST_VIEWS
  SECTION("std::views::iota") {
    visit_counter counter(1000);
    weft::parallel_for(pool, std::views::iota(0, 1000),
                       [&](int i) { counter.hit(static_cast<std::size_t>(i)); });
    REQUIRE(counter.wrong() == 0);
  }
#endif
}

TEST_CASE("parallel_for without a pool runs on default_pool()", "[parallel_for]") {
  visit_counter a(1000);
  weft::parallel_for(0, 1000, [&](int i) { a.hit(static_cast<std::size_t>(i)); });
  REQUIRE(a.wrong() == 0);

  visit_counter b(1000);
  weft::parallel_for(weft::chunked(0, 1000, 9), [&](weft::chunk<int> c) {
    for (int i : c) b.hit(static_cast<std::size_t>(i));
  });
  REQUIRE(b.wrong() == 0);

  std::vector<int> v(1000, 1);
  weft::parallel_for(v, [](int& x) { x = -x; });
  REQUIRE(std::count(v.begin(), v.end(), -1) == 1000);
}

namespace {
// The runners of chunks [0, slow) when those are slow and every other chunk is instant.
std::size_t distinct_runners_of_slow_chunks(std::size_t chunks, std::size_t slow) {
  weft::thread_pool pool(2);
  std::vector<std::thread::id> runner(chunks);
  weft::parallel_for(pool, weft::chunked(std::size_t{0}, chunks, 1),
                     [&](weft::chunk<std::size_t> c) {
                       runner[c.first()] = std::this_thread::get_id();
                       if (c.first() < slow)
                         std::this_thread::sleep_for(std::chrono::microseconds(500));
                     });
  std::vector<std::thread::id> slow_runners(runner.begin(), runner.begin() + slow);
  std::sort(slow_runners.begin(), slow_runners.end());
  return static_cast<std::size_t>(std::unique(slow_runners.begin(), slow_runners.end()) -
                                  slow_runners.begin());
}
}  // namespace

// With two workers the budget cuts 256 chunks into four walks of 64, and the walk of chunks
// [0, 64) stays with the thread that took the call. Its chunks are slow and all others instant,
// so the other worker runs out of work at once: the walk must have left it half of what is left
// (and again later), or the loop would take as long as if it were sequential.
TEST_CASE("parallel_for shares a slow walk with a worker that ran out of work", "[parallel_for]") {
  REQUIRE(distinct_runners_of_slow_chunks(256, 64) >= 2);  // three with more CPUs: the caller
}

// The same with 64 chunks: four walks of 16. However few chunks a walk holds, a thief that
// empties the walker's deque finds half of the rest pushed back before the next chunk.
TEST_CASE("parallel_for shares a slow walk of only 16 chunks", "[parallel_for]") {
  REQUIRE(distinct_runners_of_slow_chunks(64, 16) >= 2);
}

TEST_CASE("parallel_for on a one-worker pool still visits everything", "[parallel_for]") {
  weft::thread_pool pool(1);
  visit_counter counter(10000);
  weft::parallel_for(pool, weft::chunked(std::size_t{0}, std::size_t{10000}, 3),
                     [&](weft::chunk<std::size_t> c) {
                       for (std::size_t i : c) counter.hit(i);
                     });
  REQUIRE(counter.wrong() == 0);
}

TEST_CASE("parallel_for accepts a mutable, non-copyable body by reference", "[parallel_for]") {
  weft::thread_pool pool(2);
  struct body {
    std::atomic<int>* calls;
    std::unique_ptr<int> move_only = std::make_unique<int>(1);
    void operator()(int) { calls->fetch_add(*move_only); }
  };
  std::atomic<int> calls{0};
  body b{&calls};
  weft::parallel_for(pool, 0, 100, b);
  REQUIRE(calls.load() == 100);
  weft::parallel_for(pool, 0, 50, body{&calls});
  REQUIRE(calls.load() == 150);
}
