// weft::parallel_reduce: the sequential answer for every associative operation, commutative or not,
// and the bitwise-same value whatever the pool size or schedule.
#include <weft/weft.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <numeric>
#include <random>
#include <ranges>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"

namespace {

// 2x2 matrices mod a prime: associative, not commutative.
constexpr std::uint64_t prime = 1'000'000'007;
struct matrix {
  std::uint64_t a, b, c, d;
  friend bool operator==(const matrix&, const matrix&) = default;
};
constexpr matrix identity_matrix{1, 0, 0, 1};
matrix multiply(const matrix& x, const matrix& y) {
  return {(x.a * y.a + x.b * y.c) % prime, (x.a * y.b + x.b * y.d) % prime,
          (x.c * y.a + x.d * y.c) % prime, (x.c * y.b + x.d * y.d) % prime};
}
std::vector<matrix> random_matrices(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<matrix> out(n);
  for (auto& m : out) m = {rng() % prime, rng() % prime, rng() % prime, rng() % prime};
  return out;
}

// Values of wildly different magnitudes and signs: their sum depends on the bracketing.
template <class F>
std::vector<F> awkward_floats(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-20, 20);
  std::vector<F> out(n);
  for (auto& x : out) x = static_cast<F>(std::ldexp(mantissa(rng), exponent(rng)));
  return out;
}

// Not default-constructible.
struct total {
  explicit total(long long v) : value(v) {}
  long long value;
};

template <class F>
auto bits(F x) {
  if constexpr (sizeof(F) == 4)
    return std::bit_cast<std::uint32_t>(x);
  else
    return std::bit_cast<std::uint64_t>(x);
}

}  // namespace

TEST_CASE("parallel_reduce over elements equals std::accumulate for every size",
          "[parallel_reduce]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    INFO("n = " << n);
    std::vector<long long> v(n);
    std::iota(v.begin(), v.end(), -100LL);
    const long long expected = std::accumulate(v.begin(), v.end(), 5LL);
    REQUIRE(weft::parallel_reduce(pool, v, 0LL, std::plus<>{}) + 5 == expected);
    // map then reduce.
    const long long squares = std::accumulate(
        v.begin(), v.end(), 0LL, [](long long acc, long long x) { return acc + x * x % 1000; });
    REQUIRE(weft::parallel_reduce(
                pool, v, 0LL, [](long long x) { return x * x % 1000; }, std::plus<>{}) == squares);
    // max: identity is the lowest value.
    if (n > 0) {
      REQUIRE(weft::parallel_reduce(pool, v, std::numeric_limits<long long>::min(),
                                    [](long long a, long long b) { return std::max(a, b); }) ==
              *std::max_element(v.begin(), v.end()));
    }
  }
}

TEST_CASE("parallel_reduce over an empty range returns the identity", "[parallel_reduce]") {
  weft::thread_pool pool(2);
  const std::vector<int> empty;
  REQUIRE(weft::parallel_reduce(pool, empty, 42, std::plus<>{}) == 42);
  REQUIRE(weft::parallel_reduce(
              pool, empty, std::string("id"), [](const int&) { return std::string("x"); },
              std::plus<>{}) == "id");
  REQUIRE(weft::parallel_reduce(
              pool, weft::chunked(5, 5, 1), 7, [](weft::chunk<int>) { return 1; }, std::plus<>{}) ==
          7);
}

TEST_CASE("parallel_reduce over chunks equals the sequential sum for every size and grain",
          "[parallel_reduce]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    for (std::size_t grain : {std::size_t{0}, std::size_t{1}, std::size_t{3}, n + 1}) {
      if (grain == 1 && n > 100000) continue;
      INFO("n = " << n << ", grain = " << grain);
      const auto sum = weft::parallel_reduce(
          pool, weft::chunked(std::size_t{0}, n, grain), std::uint64_t{0},
          [](weft::chunk<std::size_t> c) {
            std::uint64_t s = 0;
            for (std::size_t i : c) s += i * i;
            return s;
          },
          std::plus<>{});
      std::uint64_t expected = 0;
      for (std::size_t i = 0; i < n; ++i) expected += i * i;
      REQUIRE(sum == expected);
      // The chunks reduced are exactly the chunks of the range, each once: count them.
      const auto chunk_count = weft::parallel_reduce(
          pool, weft::chunked(std::size_t{0}, n, grain), std::size_t{0},
          [](weft::chunk<std::size_t>) { return std::size_t{1}; }, std::plus<>{});
      REQUIRE(chunk_count == weft::chunked(std::size_t{0}, n, grain).size());
    }
  }
}

TEST_CASE("parallel_reduce over the chunks of a negative signed range", "[parallel_reduce]") {
  weft::thread_pool pool(3);
  const long long sum = weft::parallel_reduce(
      pool, weft::chunked(-5000, 3001, 13), 0LL,
      [](weft::chunk<int> c) {
        long long s = 0;
        for (int i : c) s += i;
        return s;
      },
      std::plus<>{});
  long long expected = 0;
  for (int i = -5000; i < 3001; ++i) expected += i;
  REQUIRE(sum == expected);
}

TEST_CASE("parallel_reduce accepts vector, array, deque, span and rvalue ranges",
          "[parallel_reduce]") {
  weft::thread_pool pool(3);
  std::array<int, 10> a{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  REQUIRE(weft::parallel_reduce(pool, a, 0, std::plus<>{}) == 55);
  std::deque<int> d(5000, 2);
  REQUIRE(weft::parallel_reduce(pool, d, 0, std::plus<>{}) == 10000);
  REQUIRE(weft::parallel_reduce(pool, std::span<const int>(a).subspan(2, 3), 0, std::plus<>{}) ==
          12);
  REQUIRE(weft::parallel_reduce(pool, std::vector<int>(300, 3), 0, std::plus<>{}) == 900);
#if WEFT_TEST_VIEWS
  REQUIRE(weft::parallel_reduce(pool, std::views::iota(1, 101), 0, std::plus<>{}) == 5050);
#endif
}

TEST_CASE("parallel_reduce works for a result type that is not default-constructible",
          "[parallel_reduce]") {
  weft::thread_pool pool(4);
  STATIC_REQUIRE_FALSE(std::is_default_constructible_v<total>);
  const auto add = [](total x, total y) { return total(x.value + y.value); };
  std::vector<int> v(10000);
  std::iota(v.begin(), v.end(), 1);
  // 3-argument form: each int is converted to total.
  REQUIRE(weft::parallel_reduce(pool, v, total(0), add).value == 50005000);
  // map form.
  REQUIRE(weft::parallel_reduce(
              pool, v, total(0), [](int x) { return total(2 * x); }, add)
              .value == 100010000);
  // chunked form.
  REQUIRE(weft::parallel_reduce(
              pool, weft::chunked(1, 10001, 17), total(0),
              [](weft::chunk<int> c) {
                long long s = 0;
                for (int i : c) s += i;
                return total(s);
              },
              add)
              .value == 50005000);
}

TEST_CASE("parallel_reduce's three-argument form converts each element to T before reducing",
          "[parallel_reduce]") {
  weft::thread_pool pool(4);
  // The sum overflows int but not long long: it is right only if the elements became long long.
  std::vector<int> v(5000, 2'000'000'000);
  REQUIRE(weft::parallel_reduce(pool, v, 0LL, std::plus<>{}) == 5000LL * 2'000'000'000LL);

  // An overload set that would accept the raw element: reduce must only ever see T.
  struct reducer {
    std::atomic<int>* raw_calls;
    long long operator()(long long a, long long b) const { return a + b; }
    long long operator()(long long a, int b) const {
      raw_calls->fetch_add(1);
      return a + b;
    }
  };
  std::atomic<int> raw_calls{0};
  REQUIRE(weft::parallel_reduce(pool, std::vector<int>(1000, 1), 0LL, reducer{&raw_calls}) == 1000);
  REQUIRE(raw_calls.load() == 0);

  // A double identity over ints gives a double.
  const auto mean_sum = weft::parallel_reduce(pool, std::vector<int>{1, 2}, 0.0, std::plus<>{});
  STATIC_REQUIRE(std::is_same_v<decltype(mean_sum), const double>);
  REQUIRE(mean_sum == 3.0);
}

TEST_CASE("parallel_reduce with a non-commutative operation gives the sequential answer",
          "[parallel_reduce]") {
  weft::thread_pool pool(4);
  SECTION("2x2 matrix product mod p") {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{7},
                          std::size_t{1000}, std::size_t{50000}}) {
      INFO("n = " << n);
      const auto ms = random_matrices(n, static_cast<unsigned>(n) + 1);
      matrix expected = identity_matrix;
      for (const auto& m : ms) expected = multiply(expected, m);
      REQUIRE(weft::parallel_reduce(pool, ms, identity_matrix, multiply) == expected);
      REQUIRE(weft::parallel_reduce(
                  pool, weft::chunked(std::size_t{0}, n, 3), identity_matrix,
                  [&](weft::chunk<std::size_t> c) {
                    matrix p = identity_matrix;
                    for (std::size_t i : c) p = multiply(p, ms[i]);
                    return p;
                  },
                  multiply) == expected);
    }
  }
  SECTION("string concatenation") {
    const std::size_t n = 3000;
    std::vector<int> v(n);
    std::iota(v.begin(), v.end(), 0);
    std::string expected;
    for (int x : v) expected += std::to_string(x) + ",";
    const auto concatenate = [](std::string a, const std::string& b) { return a + b; };
    REQUIRE(weft::parallel_reduce(
                pool, v, std::string(), [](int x) { return std::to_string(x) + ","; },
                concatenate) == expected);
    REQUIRE(weft::parallel_reduce(
                pool, weft::chunked(0, static_cast<int>(n), 1), std::string(),
                [](weft::chunk<int> c) { return std::to_string(c.first()) + ","; },
                concatenate) == expected);
  }
}

TEST_CASE("parallel_reduce is bitwise deterministic across pool sizes for floating-point sums",
          "[parallel_reduce]") {
  const std::size_t n = WEFT_TEST_SANITIZED ? 20000 : 300000;
  const auto doubles = awkward_floats<double>(n, 7);
  const auto floats = awkward_floats<float>(n, 11);
  // Grain 16: thousands of chunks, so schedules really differ.
  const auto chunk_sum = [&](weft::chunk<std::size_t> c) {
    double s = 0;
    for (std::size_t i : c) s += doubles[i];
    return s;
  };

  std::vector<std::uint64_t> element_double, mapped_double, chunked_double;
  std::vector<std::uint32_t> element_float;
  for (std::size_t workers = 1; workers <= 8; ++workers) {
    weft::thread_pool pool(workers);
    for (int repeat = 0; repeat < (WEFT_TEST_SANITIZED ? 1 : 3); ++repeat) {
      element_double.push_back(bits(weft::parallel_reduce(pool, doubles, 0.0, std::plus<>{})));
      element_float.push_back(bits(weft::parallel_reduce(pool, floats, 0.0f, std::plus<>{})));
      mapped_double.push_back(bits(weft::parallel_reduce(
          pool, doubles, 0.0, [](double x) { return x * x * 1e-3 - x; }, std::plus<>{})));
      chunked_double.push_back(bits(weft::parallel_reduce(
          pool, weft::chunked(std::size_t{0}, n, 16), 0.0, chunk_sum, std::plus<>{})));
    }
  }
  const auto all_equal = [](const auto& values) {
    return std::all_of(values.begin(), values.end(), [&](auto x) { return x == values.front(); });
  };
  REQUIRE(all_equal(element_double));
  REQUIRE(all_equal(element_float));
  REQUIRE(all_equal(mapped_double));
  REQUIRE(all_equal(chunked_double));
  // The data really is order-sensitive: a plain left fold gives a different float sum, so the
  // check above could catch a schedule-dependent bracketing. (Not asserted for double: a match
  // there would be a coincidence, not a failure.)
  const float left_fold = std::accumulate(floats.begin(), floats.end(), 0.0f);
  const float reversed = std::accumulate(floats.rbegin(), floats.rend(), 0.0f);
  REQUIRE(bits(left_fold) != bits(reversed));
}

// Two partials written down as a bracket, and the brackets the documented tree gives chunks
// [lo, hi) of an operation whose leaf is the chunk's number.
namespace {
std::string bracket(std::string left, const std::string& right) {
  return "(" + left + " " + right + ")";
}
std::string even_split_tree(std::size_t lo, std::size_t hi) {
  if (hi - lo == 1) return std::to_string(lo);
  const std::size_t mid = lo + (hi - lo) / 2;
  return bracket(even_split_tree(lo, mid), even_split_tree(mid, hi));
}
}  // namespace

// The bracketing itself is a function of the chunk count alone: node [lo, hi) combines
// [lo, mid) and [mid, hi) with mid = lo + (hi - lo) / 2 (docs/design.md). An operation that writes
// its brackets down shows it, on every pool size, for every count up to 70 and a few larger ones
// (weft never brings the identity into a reduction of one chunk or more).
TEST_CASE("parallel_reduce brackets chunks as the documented even-split tree on every pool size",
          "[parallel_reduce]") {
  std::vector<std::size_t> counts(70);
  std::iota(counts.begin(), counts.end(), std::size_t{1});
  counts.insert(counts.end(), {255, 256, 257, 1000, 2893});
  for (std::size_t workers : {1, 2, 3, 5}) {
    weft::thread_pool pool(workers);
    for (std::size_t count : counts) {
      INFO(workers << " workers, " << count << " chunks");
      const std::string got = weft::parallel_reduce(
          pool, weft::chunked(std::size_t{0}, count, 1), std::string("identity"),
          [](weft::chunk<std::size_t> c) { return std::to_string(c.first()); }, bracket);
      REQUIRE(got == even_split_tree(0, count));
    }
  }
}

// As in the test above, but the first quarter of the chunks is slow, so the walk over it is
// split for the other worker while it runs: the brackets stay those of the tree. Walks of 64
// chunks and of 16 (64 chunks in all, cut into four walks by the budget).
TEST_CASE("parallel_reduce keeps the tree's brackets when a slow walk is shared",
          "[parallel_reduce]") {
  weft::thread_pool pool(2);
  const std::size_t chunks = GENERATE(std::size_t{256}, std::size_t{64});
  const std::size_t slow = chunks / 4;
  CAPTURE(chunks);
  std::vector<std::thread::id> runner(chunks);
  const std::string got = weft::parallel_reduce(
      pool, weft::chunked(std::size_t{0}, chunks, 1), std::string("identity"),
      [&](weft::chunk<std::size_t> c) {
        runner[c.first()] = std::this_thread::get_id();
        if (c.first() < slow) std::this_thread::sleep_for(std::chrono::microseconds(500));
        return std::to_string(c.first());
      },
      bracket);
  REQUIRE(got == even_split_tree(0, chunks));
  std::vector<std::thread::id> slow_runners(runner.begin(), runner.begin() + slow);
  std::sort(slow_runners.begin(), slow_runners.end());
  REQUIRE(std::unique(slow_runners.begin(), slow_runners.end()) - slow_runners.begin() >= 2);
}

TEST_CASE("parallel_reduce without a pool runs on default_pool()", "[parallel_reduce]") {
  std::vector<int> v(1000, 1);
  REQUIRE(weft::parallel_reduce(v, 0, std::plus<>{}) == 1000);
  REQUIRE(weft::parallel_reduce(
              v, 0, [](int x) { return 3 * x; }, std::plus<>{}) == 3000);
  REQUIRE(weft::parallel_reduce(
              weft::chunked(0, 1000, 7), 0,
              [](weft::chunk<int> c) { return static_cast<int>(c.size()); },
              std::plus<>{}) == 1000);
  // And the default pool gives the same bits as any other pool.
  const auto doubles = awkward_floats<double>(20000, 3);
  weft::thread_pool two(2);
  REQUIRE(bits(weft::parallel_reduce(doubles, 0.0, std::plus<>{})) ==
          bits(weft::parallel_reduce(two, doubles, 0.0, std::plus<>{})));
}

TEST_CASE("parallel_reduce calls map exactly once per element and per_chunk once per chunk",
          "[parallel_reduce]") {
  weft::thread_pool pool(4);
  std::vector<std::atomic<int>> calls(20000);
  std::vector<std::size_t> in(calls.size());
  std::iota(in.begin(), in.end(), std::size_t{0});
  const auto sum = weft::parallel_reduce(
      pool, in, std::size_t{0},
      [&](std::size_t i) {
        calls[i].fetch_add(1);
        return i;
      },
      std::plus<>{});
  REQUIRE(sum == in.size() * (in.size() - 1) / 2);
  std::size_t wrong = 0;
  for (auto& c : calls)
    if (c.load() != 1) ++wrong;
  REQUIRE(wrong == 0);

  const auto range = weft::chunked(std::size_t{0}, std::size_t{20000}, 7);
  std::vector<std::atomic<int>> chunk_calls(range.size());
  weft::parallel_reduce(
      pool, range, 0,
      [&](weft::chunk<std::size_t> c) {
        chunk_calls[c.index()].fetch_add(1);
        return 0;
      },
      std::plus<>{});
  wrong = 0;
  for (auto& c : chunk_calls)
    if (c.load() != 1) ++wrong;
  REQUIRE(wrong == 0);
}
