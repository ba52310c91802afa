// weft::parallel_inclusive_scan and weft::parallel_exclusive_scan against std::inclusive_scan and
// std::exclusive_scan, including non-commutative operations and determinism across pool sizes.
#include <weft/weft.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"

namespace {

std::vector<double> awkward_doubles(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-30, 30);
  std::vector<double> out(n);
  for (auto& x : out) x = std::ldexp(mantissa(rng), exponent(rng));
  return out;
}

std::vector<std::uint64_t> to_bits(const std::vector<double>& v) {
  std::vector<std::uint64_t> out(v.size());
  std::transform(v.begin(), v.end(), out.begin(),
                 [](double x) { return std::bit_cast<std::uint64_t>(x); });
  return out;
}

}  // namespace

TEST_CASE("parallel_inclusive_scan equals std::inclusive_scan for every size", "[parallel_scan]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    INFO("n = " << n);
    std::vector<long long> in(n);
    std::iota(in.begin(), in.end(), -50LL);
    std::vector<long long> expected(n);
    std::inclusive_scan(in.begin(), in.end(), expected.begin(), std::plus<>{});
    std::vector<long long> out(n, 12345);
    weft::parallel_inclusive_scan(pool, in, out.begin(), std::plus<>{});
    REQUIRE(out == expected);
  }
}

TEST_CASE("parallel_exclusive_scan equals std::exclusive_scan for every size", "[parallel_scan]") {
  weft::thread_pool pool(4);
  for (std::size_t n : weft_test::sizes) {
    INFO("n = " << n);
    std::vector<long long> in(n);
    std::iota(in.begin(), in.end(), -50LL);
    std::vector<long long> expected(n);
    std::exclusive_scan(in.begin(), in.end(), expected.begin(), 1000LL, std::plus<>{});
    std::vector<long long> out(n, 12345);
    weft::parallel_exclusive_scan(pool, in, out.begin(), 1000LL, std::plus<>{});
    REQUIRE(out == expected);
  }
}

TEST_CASE("parallel scans with a non-commutative operation keep the order of the operands",
          "[parallel_scan]") {
  weft::thread_pool pool(4);
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{500}}) {
    INFO("n = " << n);
    std::vector<std::string> in(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = std::to_string(i) + ";";
    const auto concatenate = [](const std::string& a, const std::string& b) { return a + b; };

    std::vector<std::string> expected(n);
    std::inclusive_scan(in.begin(), in.end(), expected.begin(), concatenate);
    std::vector<std::string> out(n);
    weft::parallel_inclusive_scan(pool, in, out.begin(), concatenate);
    REQUIRE(out == expected);

    std::exclusive_scan(in.begin(), in.end(), expected.begin(), std::string("^"), concatenate);
    weft::parallel_exclusive_scan(pool, in, out.begin(), std::string("^"), concatenate);
    REQUIRE(out == expected);
  }
}

TEST_CASE("parallel_exclusive_scan converts the elements to the type of init", "[parallel_scan]") {
  weft::thread_pool pool(3);
  std::vector<int> in(3000, 2'000'000'000);
  std::vector<long long> out(in.size());
  weft::parallel_exclusive_scan(pool, in, out.begin(), 0LL, std::plus<>{});
  for (std::size_t i = 0; i < in.size(); i += 111)
    REQUIRE(out[i] == static_cast<long long>(i) * 2'000'000'000LL);
}

TEST_CASE("parallel scans accept array, deque, span and rvalue inputs", "[parallel_scan]") {
  weft::thread_pool pool(3);
  std::array<int, 6> a{1, 2, 3, 4, 5, 6};
  std::vector<int> out(6);
  weft::parallel_inclusive_scan(pool, a, out.begin(), std::plus<>{});
  REQUIRE(out == std::vector<int>{1, 3, 6, 10, 15, 21});

  std::deque<int> d(1000, 1);
  std::vector<int> dout(1000);
  weft::parallel_exclusive_scan(pool, d, dout.begin(), 0, std::plus<>{});
  for (std::size_t i = 0; i < dout.size(); ++i) REQUIRE(dout[i] == static_cast<int>(i));

  std::vector<int> span_out(3);
  weft::parallel_inclusive_scan(pool, std::span<const int>(a).subspan(3), span_out.begin(),
                                std::plus<>{});
  REQUIRE(span_out == std::vector<int>{4, 9, 15});

  std::vector<int> rvalue_out(4);
  weft::parallel_exclusive_scan(pool, std::vector<int>{1, 1, 1, 1}, rvalue_out.begin(), 10,
                                std::plus<>{});
  REQUIRE(rvalue_out == std::vector<int>{10, 11, 12, 13});

  // Output into a deque's random-access iterator.
  std::deque<int> deque_out(6);
  weft::parallel_inclusive_scan(pool, a, deque_out.begin(), std::multiplies<>{});
  REQUIRE(std::vector<int>(deque_out.begin(), deque_out.end()) ==
          std::vector<int>{1, 2, 6, 24, 120, 720});
}

TEST_CASE("parallel scans are bitwise deterministic across pool sizes", "[parallel_scan]") {
  const std::size_t n = WEFT_TEST_SANITIZED ? 20000 : 200000;
  const auto in = awkward_doubles(n, 5);
  std::vector<std::vector<std::uint64_t>> inclusive, exclusive;
  for (std::size_t workers = 1; workers <= 8; ++workers) {
    weft::thread_pool pool(workers);
    for (int repeat = 0; repeat < (WEFT_TEST_SANITIZED ? 1 : 2); ++repeat) {
      std::vector<double> out(n);
      weft::parallel_inclusive_scan(pool, in, out.begin(), std::plus<>{});
      inclusive.push_back(to_bits(out));
      weft::parallel_exclusive_scan(pool, in, out.begin(), 0.25, std::plus<>{});
      exclusive.push_back(to_bits(out));
    }
  }
  for (const auto& v : inclusive) REQUIRE(v == inclusive.front());
  for (const auto& v : exclusive) REQUIRE(v == exclusive.front());
  // Sanity: the scan is a scan (the last prefix is close to the plain sum).
  const double sum = std::accumulate(in.begin(), in.end(), 0.0);
  const double last = std::bit_cast<double>(inclusive.front().back());
  REQUIRE(std::abs(last - sum) <= 1e-6 * (1 + std::abs(sum)));
}

TEST_CASE("parallel scans without a pool run on default_pool()", "[parallel_scan]") {
  std::vector<int> in(1000, 1);
  std::vector<int> out(1000);
  weft::parallel_inclusive_scan(in, out.begin(), std::plus<>{});
  for (std::size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == static_cast<int>(i) + 1);
  weft::parallel_exclusive_scan(in, out.begin(), -1, std::plus<>{});
  for (std::size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == static_cast<int>(i) - 1);
}

TEST_CASE("parallel_inclusive_scan may write in place, like std::inclusive_scan",
          "[parallel_scan]") {
  weft::thread_pool pool(4);
  for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{5000}}) {
    INFO("n = " << n);
    std::vector<long> v(n);
    std::iota(v.begin(), v.end(), 1L);
    std::vector<long> expected(n);
    std::inclusive_scan(v.begin(), v.end(), expected.begin());
    weft::parallel_inclusive_scan(pool, v, v.begin(), std::plus<>{});
    if (n <= 7) REQUIRE(v == expected);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (v[i] != expected[i]) ++wrong;
    REQUIRE(wrong == 0);
  }
}

TEST_CASE("parallel_exclusive_scan may write in place, like std::exclusive_scan",
          "[parallel_scan]") {
  weft::thread_pool pool(4);
  for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{5000}}) {
    INFO("n = " << n);
    std::vector<long> v(n);
    std::iota(v.begin(), v.end(), 1L);
    std::vector<long> expected(n);
    std::exclusive_scan(v.begin(), v.end(), expected.begin(), 100L);
    weft::parallel_exclusive_scan(pool, v, v.begin(), 100L, std::plus<>{});
    if (n <= 7) REQUIRE(v == expected);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (v[i] != expected[i]) ++wrong;
    REQUIRE(wrong == 0);
  }
}
