// weft::parallel_map: out[i] == f(input[i]), order kept, for any result type.
#include <weft/weft.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <numeric>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"

namespace {

// Not default-constructible, not assignable: parallel_map must construct results in place.
struct wrapped {
  explicit wrapped(long v) : value(v) {}
  wrapped(const wrapped&) = default;
  wrapped(wrapped&&) = default;
  wrapped& operator=(const wrapped&) = delete;
  wrapped& operator=(wrapped&&) = delete;
  long value;
};

// Counts its live instances, so that a test can tell whether every constructed object was
// destroyed exactly once.
std::atomic<long> live_instances{0};

struct counted {
  explicit counted(long v) : value(v) { ++live_instances; }
  counted(const counted& other) : value(other.value) { ++live_instances; }
  counted(counted&& other) noexcept : value(other.value) { ++live_instances; }
  counted& operator=(const counted&) = default;
  counted& operator=(counted&&) noexcept = default;
  ~counted() { --live_instances; }
  long value;
};

// The same, default-constructible: parallel_map may take a different path for it.
struct counted_default {
  counted_default() { ++live_instances; }
  explicit counted_default(long v) : value(v) { ++live_instances; }
  counted_default(const counted_default& other) : value(other.value) { ++live_instances; }
  counted_default(counted_default&& other) noexcept : value(other.value) { ++live_instances; }
  counted_default& operator=(const counted_default&) = default;
  counted_default& operator=(counted_default&&) noexcept = default;
  ~counted_default() { --live_instances; }
  long value = 0;
};

}  // namespace

TEST_CASE("parallel_map returns f(input[i]) at position i for every size", "[parallel_map]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    INFO("n = " << n);
    std::vector<long> in(n);
    std::iota(in.begin(), in.end(), -3L);
    const std::vector<long> out = weft::parallel_map(pool, in, [](long x) { return x * x - 7; });
    std::vector<long> expected(n);
    std::transform(in.begin(), in.end(), expected.begin(), [](long x) { return x * x - 7; });
    REQUIRE(out == expected);
  }
}

TEST_CASE("parallel_map's result type is the decayed result of f", "[parallel_map]") {
  weft::thread_pool pool(2);
  const std::vector<int> in{1, 2, 3};
  auto strings = weft::parallel_map(
      pool, in, [](int x) { return std::string(static_cast<std::size_t>(x), 'a'); });
  STATIC_REQUIRE(std::is_same_v<decltype(strings), std::vector<std::string>>);
  REQUIRE(strings == std::vector<std::string>{"a", "aa", "aaa"});

  std::vector<int> storage{4, 5, 6};
  auto refs = weft::parallel_map(pool, storage, [](int& x) -> int& { return x; });
  STATIC_REQUIRE(std::is_same_v<decltype(refs), std::vector<int>>);
  REQUIRE(refs == storage);
}

TEST_CASE("parallel_map accepts vector, array, deque, span and rvalue ranges", "[parallel_map]") {
  weft::thread_pool pool(3);
  const auto twice = [](int x) { return 2 * x; };
  std::array<int, 5> a{1, 2, 3, 4, 5};
  REQUIRE(weft::parallel_map(pool, a, twice) == std::vector<int>{2, 4, 6, 8, 10});

  std::deque<int> d(2000);
  std::iota(d.begin(), d.end(), 0);
  const auto from_deque = weft::parallel_map(pool, d, twice);
  REQUIRE(from_deque.size() == d.size());
  for (std::size_t i = 0; i < d.size(); ++i) REQUIRE(from_deque[i] == 2 * d[i]);

  std::vector<int> v{10, 20, 30, 40, 50};
  REQUIRE(weft::parallel_map(pool, std::span<const int>(v).subspan(1, 3), twice) ==
          std::vector<int>{40, 60, 80});

  REQUIRE(weft::parallel_map(pool, std::vector<int>{7, 8}, twice) == std::vector<int>{14, 16});

  // The function receives the range's reference type: it may modify the input.
  std::vector<int> w{1, 2, 3};
  const auto old = weft::parallel_map(pool, w, [](int& x) { return x++; });
  REQUIRE(old == std::vector<int>{1, 2, 3});
  REQUIRE(w == std::vector<int>{2, 3, 4});

#if WEFT_TEST_VIEWS
  const auto squares =
      weft::parallel_map(pool, std::views::iota(0, 1000), [](int i) { return i * i; });
  REQUIRE(squares.size() == 1000);
  for (int i = 0; i < 1000; ++i) REQUIRE(squares[static_cast<std::size_t>(i)] == i * i);
#endif
}

TEST_CASE("parallel_map works for a result type that is not default-constructible",
          "[parallel_map]") {
  weft::thread_pool pool(4);
  STATIC_REQUIRE_FALSE(std::is_default_constructible_v<wrapped>);
  for (std::size_t n : weft_test::sizes) {
    INFO("n = " << n);
    std::vector<long> in(n);
    std::iota(in.begin(), in.end(), 0L);
    const std::vector<wrapped> out =
        weft::parallel_map(pool, in, [](long x) { return wrapped(x + 1); });
    REQUIRE(out.size() == n);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (out[i].value != static_cast<long>(i) + 1) ++wrong;
    REQUIRE(wrong == 0);
  }
}

TEST_CASE("parallel_map with a bool result gives a std::vector<bool> with the right values",
          "[parallel_map]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    INFO("n = " << n);
    std::vector<std::size_t> in(n);
    std::iota(in.begin(), in.end(), std::size_t{0});
    // A pattern that changes inside every 64-bit word, so neighbouring bits written by different
    // chunks share words.
    const auto predicate = [](std::size_t x) { return (x * 2654435761u) % 3 == 0 || x % 7 == 1; };
    auto out = weft::parallel_map(pool, in, predicate);
    STATIC_REQUIRE(std::is_same_v<decltype(out), std::vector<bool>>);
    REQUIRE(out.size() == n);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (out[i] != predicate(i)) ++wrong;
    REQUIRE(wrong == 0);
  }
}

TEST_CASE("parallel_map works for a move-only result type", "[parallel_map]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    INFO("n = " << n);
    std::vector<int> in(n);
    std::iota(in.begin(), in.end(), 0);
    std::vector<std::unique_ptr<int>> out =
        weft::parallel_map(pool, in, [](int x) { return std::make_unique<int>(x * 3); });
    REQUIRE(out.size() == n);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (!out[i] || *out[i] != 3 * static_cast<int>(i)) ++wrong;
    REQUIRE(wrong == 0);
  }
}

TEST_CASE("parallel_map destroys every result it built when f throws", "[parallel_map]") {
  weft::thread_pool pool(4);
  const std::size_t n = 20000;
  std::vector<long> in(n);
  std::iota(in.begin(), in.end(), 0L);
  SECTION("a result type that is not default-constructible") {
    live_instances = 0;
    REQUIRE_THROWS_AS(weft::parallel_map(pool, in,
                                         [](long x) {
                                           if (x == 12345 || x == 3)
                                             throw std::runtime_error("map");
                                           return counted(x);
                                         }),
                      std::runtime_error);
    REQUIRE(live_instances.load() == 0);
  }
  SECTION("a default-constructible result type") {
    live_instances = 0;
    REQUIRE_THROWS_AS(weft::parallel_map(pool, in,
                                         [](long x) {
                                           if (x == 19999) throw std::runtime_error("map");
                                           return counted_default(x);
                                         }),
                      std::runtime_error);
    REQUIRE(live_instances.load() == 0);
  }
  SECTION("a successful map leaves exactly n live results") {
    live_instances = 0;
    {
      const auto out = weft::parallel_map(pool, in, [](long x) { return counted(x); });
      REQUIRE(live_instances.load() == static_cast<long>(n));
      for (std::size_t i = 0; i < n; i += 997) REQUIRE(out[i].value == static_cast<long>(i));
    }
    REQUIRE(live_instances.load() == 0);
  }
}

TEST_CASE("parallel_map calls f exactly once per element", "[parallel_map]") {
  weft::thread_pool pool(4);
  std::vector<std::atomic<int>> calls(10000);
  std::vector<std::size_t> in(calls.size());
  std::iota(in.begin(), in.end(), std::size_t{0});
  const auto out = weft::parallel_map(pool, in, [&](std::size_t i) {
    calls[i].fetch_add(1);
    return i;
  });
  REQUIRE(out == in);
  std::size_t wrong = 0;
  for (auto& c : calls)
    if (c.load() != 1) ++wrong;
  REQUIRE(wrong == 0);
}

TEST_CASE("parallel_map without a pool runs on default_pool()", "[parallel_map]") {
  std::vector<int> in(1000);
  std::iota(in.begin(), in.end(), 0);
  const auto out = weft::parallel_map(in, [](int x) { return x + 1; });
  REQUIRE(out.size() == 1000);
  for (std::size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == static_cast<int>(i) + 1);
}
