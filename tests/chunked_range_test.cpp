// weft::chunked_range and weft::chunk: the chunks are exactly the documented intervals, a function
// of (first, last, grain) alone.
#include <weft/weft.hpp>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <ranges>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"

namespace {

// Checks every chunk of `range` against the formula [first + k*g, min(first + (k+1)*g, last)),
// computed independently in a wide type, and that the chunks tile [first, last) exactly.
template <class I>
void check_chunks_match_formula(I first, I last, std::size_t grain) {
  const auto range = weft::chunked(first, last, grain);
  STATIC_REQUIRE(std::is_same_v<typename decltype(range)::index_type, I>);
  const std::size_t g = grain == 0 ? weft::automatic_grain(static_cast<std::size_t>(
                                         static_cast<std::make_unsigned_t<I>>(last) -
                                         static_cast<std::make_unsigned_t<I>>(first)))
                                   : grain;
  REQUIRE(range.grain() == g);
  REQUIRE(range.first() == first);
  REQUIRE(range.last() == last);

  // Expected bounds, computed in long double-free integer arithmetic: offsets from first.
  using U = std::make_unsigned_t<I>;
  const std::size_t extent =
      static_cast<std::size_t>(static_cast<U>(static_cast<U>(last) - static_cast<U>(first)));
  const std::size_t expected_chunks = extent / g + (extent % g != 0 ? 1 : 0);
  REQUIRE(range.size() == expected_chunks);
  REQUIRE(range.empty() == (extent == 0));
  REQUIRE(static_cast<std::size_t>(range.extent()) == extent);

  std::size_t k = 0;
  I expected_first = first;
  for (weft::chunk<I> c : range) {
    const std::size_t begin_offset = k * g;
    const std::size_t end_offset = std::min(begin_offset + g, extent);
    const I expected_last =
        static_cast<I>(static_cast<U>(static_cast<U>(first) + static_cast<U>(end_offset)));
    REQUIRE(c.index() == k);
    REQUIRE(c.first() == expected_first);
    REQUIRE(c.last() == expected_last);
    REQUIRE(static_cast<std::size_t>(c.size()) == end_offset - begin_offset);
    REQUIRE_FALSE(c.empty());
    REQUIRE(c.size() > 0);
    // Random access to the chunks gives the same chunk as iteration.
    const weft::chunk<I> same = range[k];
    REQUIRE(same.first() == c.first());
    REQUIRE(same.last() == c.last());
    REQUIRE(same.index() == k);
    expected_first = expected_last;
    ++k;
  }
  REQUIRE(k == expected_chunks);
  REQUIRE(expected_first == last);  // the chunks tile the range with no gap and no overlap
}

}  // namespace

TEST_CASE("chunk k of a chunked range is exactly [first + k*g, min(first + (k+1)*g, last))",
          "[chunked_range]") {
  check_chunks_match_formula<std::size_t>(0, 10, 3);
  check_chunks_match_formula<std::size_t>(0, 9, 3);
  check_chunks_match_formula<std::size_t>(5, 6, 1);
  check_chunks_match_formula<std::size_t>(0, 1000, 7);
  check_chunks_match_formula<int>(3, 1003, 10);
  check_chunks_match_formula<int>(-17, 40, 4);
  check_chunks_match_formula<long long>(-1000, -3, 64);
  check_chunks_match_formula<unsigned>(100, 250, 0);
  check_chunks_match_formula<std::int8_t>(-128, 127, 5);
  check_chunks_match_formula<std::uint16_t>(0, 65535, 1000);

  const auto r = weft::chunked(std::size_t{10}, std::size_t{20}, 4);
  REQUIRE(r.size() == 3);
  REQUIRE(r[0].first() == 10);
  REQUIRE(r[0].last() == 14);
  REQUIRE(r[1].first() == 14);
  REQUIRE(r[1].last() == 18);
  REQUIRE(r[2].first() == 18);
  REQUIRE(r[2].last() == 20);
  REQUIRE(r[2].size() == 2);
  REQUIRE(r[2].index() == 2);
}

TEST_CASE("a chunk is a range of its indices: range-for, operator[] and the iterators agree",
          "[chunked_range]") {
  const auto r = weft::chunked(-5, 20, 6);
  for (weft::chunk<int> c : r) {
    std::vector<int> seen;
    for (int i : c) seen.push_back(i);
    std::vector<int> expected;
    for (int i = c.first(); i < c.last(); ++i) expected.push_back(i);
    REQUIRE(seen == expected);
    REQUIRE(seen.size() == c.size());
    for (std::size_t n = 0; n < c.size(); ++n) REQUIRE(c[n] == c.first() + static_cast<int>(n));
    REQUIRE(std::ranges::size(c) == c.size());
    REQUIRE(std::ranges::distance(c) == static_cast<std::ptrdiff_t>(c.size()));
    REQUIRE(*std::ranges::begin(c) == c.first());
    REQUIRE(*(std::ranges::end(c) - 1) == c.last() - 1);
    REQUIRE(std::ranges::end(c) - std::ranges::begin(c) == static_cast<std::ptrdiff_t>(c.size()));
    // Range-for yields the index type itself.
    for (auto i : c) STATIC_REQUIRE(std::is_same_v<decltype(i), int>);
  }
}

TEST_CASE("a chunk is a sized random-access range and a chunked range is a cheap value type",
          "[chunked_range]") {
  STATIC_REQUIRE(std::ranges::random_access_range<weft::chunk<std::size_t>>);
  STATIC_REQUIRE(std::ranges::sized_range<weft::chunk<std::size_t>>);
  STATIC_REQUIRE(std::ranges::random_access_range<weft::chunk<int>>);
  STATIC_REQUIRE(std::ranges::sized_range<weft::chunk<int>>);
  STATIC_REQUIRE(std::ranges::random_access_range<const weft::chunk<long long>>);
  STATIC_REQUIRE(std::ranges::sized_range<const weft::chunk<unsigned char>>);
  STATIC_REQUIRE(std::is_same_v<std::ranges::range_value_t<weft::chunk<short>>, short>);
  STATIC_REQUIRE(
      std::is_same_v<std::ranges::range_reference_t<weft::chunk<std::uint64_t>>, std::uint64_t>);

  STATIC_REQUIRE(std::is_trivially_copyable_v<weft::chunked_range<std::size_t>>);
  STATIC_REQUIRE(std::is_trivially_copyable_v<weft::chunked_range<int>>);
  STATIC_REQUIRE(std::is_trivially_copyable_v<weft::chunk<int>>);
  STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<weft::chunked_range<std::size_t>>);
  STATIC_REQUIRE(sizeof(weft::chunked_range<std::size_t>) <= 8 * sizeof(std::size_t));

  // A copy is the same chunking.
  const auto a = weft::chunked(0, 100, 7);
  const auto b = a;
  REQUIRE(b.size() == a.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    REQUIRE(a[k].first() == b[k].first());
    REQUIRE(a[k].last() == b[k].last());
  }
}

TEST_CASE("grain 0 uses weft::automatic_grain of the number of indices, with the documented values",
          "[chunked_range]") {
  REQUIRE(weft::automatic_grain(100) == 2);
  REQUIRE(weft::automatic_grain(1000) == 16);
  REQUIRE(weft::automatic_grain(2000) == 23);
  REQUIRE(weft::automatic_grain(std::size_t{1} << 20) == 512);
  REQUIRE(weft::automatic_grain(std::size_t{1} << 26) == 4096);
  STATIC_REQUIRE(weft::automatic_grain(1000) == 16);  // usable at compile time
  REQUIRE(weft::automatic_grain(1) == 1);
  REQUIRE(weft::automatic_grain(std::numeric_limits<std::size_t>::max()) >= 1);

  for (std::size_t n :
       {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{64}, std::size_t{100},
        std::size_t{1000}, std::size_t{2000}, std::size_t{123457}, std::size_t{1} << 20}) {
    INFO("n = " << n);
    const std::size_t g = weft::automatic_grain(n);
    REQUIRE(g >= 1);
    REQUIRE(weft::chunked(std::size_t{0}, n).grain() == g);
    REQUIRE(weft::chunked(std::size_t{0}, n, 0).grain() == g);
    // A function of last - first alone: shifting the range or changing its type changes nothing.
    REQUIRE(weft::chunked(std::size_t{1000}, 1000 + n, 0).grain() == g);
    REQUIRE(weft::chunked(-static_cast<long long>(n), 0LL, 0).grain() == g);
    REQUIRE(weft::chunked(0, static_cast<int>(n), 0).size() == (n + g - 1) / g);
  }
}

TEST_CASE("the automatic grain does not depend on the pool or the machine", "[chunked_range]") {
  // The chunking is fixed before any pool is involved: the same count gives the same chunks
  // however many workers later run them. Check that the chunk boundaries parallel_for sees on pools
  // of different sizes are the same.
  const std::size_t n = 5000;
  std::vector<std::vector<std::size_t>> firsts_per_pool;
  for (std::size_t workers : {1, 2, 3, 8}) {
    weft::thread_pool pool(workers);
    const auto range = weft::chunked(std::size_t{0}, n);
    std::vector<std::size_t> firsts(range.size(), n + 1);
    weft::parallel_for(pool, range,
                       [&](weft::chunk<std::size_t> c) { firsts[c.index()] = c.first(); });
    firsts_per_pool.push_back(firsts);
  }
  for (const auto& firsts : firsts_per_pool) REQUIRE(firsts == firsts_per_pool.front());
  REQUIRE(firsts_per_pool.front().size() ==
          (n + weft::automatic_grain(n) - 1) / weft::automatic_grain(n));
}

TEST_CASE("an empty range has no chunks", "[chunked_range]") {
  for (std::size_t grain : {std::size_t{0}, std::size_t{1}, std::size_t{5}}) {
    const auto r = weft::chunked(std::size_t{7}, std::size_t{7}, grain);
    REQUIRE(r.size() == 0);
    REQUIRE(r.empty());
    REQUIRE(r.begin() == r.end());
    REQUIRE(r.extent() == 0);
    const auto s = weft::chunked(-3, -3, grain);
    REQUIRE(s.empty());
    REQUIRE(s.begin() == s.end());
  }
  const weft::chunked_range<int> default_constructed;
  REQUIRE(default_constructed.empty());
  REQUIRE(default_constructed.begin() == default_constructed.end());
}

TEST_CASE("a grain larger than the range gives exactly one chunk holding the whole range",
          "[chunked_range]") {
  const auto r = weft::chunked(3, 10, 1000);
  REQUIRE(r.size() == 1);
  REQUIRE(r[0].first() == 3);
  REQUIRE(r[0].last() == 10);
  REQUIRE(r[0].size() == 7);
  const auto exact = weft::chunked(0u, 8u, 8);
  REQUIRE(exact.size() == 1);
  REQUIRE(exact[0].size() == 8);
  const auto huge_grain = weft::chunked(0, 5, std::numeric_limits<std::size_t>::max());
  REQUIRE(huge_grain.size() == 1);
  REQUIRE(huge_grain[0].last() == 5);
}

TEST_CASE("chunks are never empty, for every size and grain", "[chunked_range]") {
  for (std::size_t n = 0; n < 70; ++n) {
    for (std::size_t grain = 0; grain < 12; ++grain) {
      const auto r = weft::chunked(std::size_t{0}, n, grain);
      std::size_t covered = 0;
      for (auto c : r) {
        REQUIRE(c.size() >= 1);
        REQUIRE(c.first() < c.last());
        covered += c.size();
      }
      REQUIRE(covered == n);
    }
  }
}

TEST_CASE("signed negative ranges are chunked like any other", "[chunked_range]") {
  const auto r = weft::chunked(-10, -1, 4);
  STATIC_REQUIRE(std::is_same_v<decltype(r)::index_type, int>);
  REQUIRE(r.size() == 3);
  REQUIRE(r[0].first() == -10);
  REQUIRE(r[0].last() == -6);
  REQUIRE(r[1].first() == -6);
  REQUIRE(r[2].first() == -2);
  REQUIRE(r[2].last() == -1);
  std::vector<int> all;
  for (auto c : r)
    for (int i : c) all.push_back(i);
  REQUIRE(all == std::vector<int>{-10, -9, -8, -7, -6, -5, -4, -3, -2});

  const auto crossing = weft::chunked(-3, 3, 2);
  REQUIRE(crossing.size() == 3);
  REQUIRE(crossing[1].first() == -1);
  REQUIRE(crossing[1].last() == 1);

  // The whole of a small signed type, wider than half its range.
  const auto whole = weft::chunked(std::int8_t{-128}, std::int8_t{127}, 100);
  REQUIRE(whole.extent() == 255);
  REQUIRE(whole.size() == 3);
  REQUIRE(whole[1].first() == -28);
  REQUIRE(whole[1].last() == 72);
  REQUIRE(whole[2].last() == 127);
}

TEST_CASE("a range may end at its type's maximum without overflow", "[chunked_range]") {
  {
    const auto r = weft::chunked(INT_MAX - 5, INT_MAX, 2);
    REQUIRE(r.size() == 3);
    REQUIRE(r[2].first() == INT_MAX - 1);
    REQUIRE(r[2].last() == INT_MAX);
    std::vector<int> all;
    for (auto c : r)
      for (int i : c) all.push_back(i);
    REQUIRE(all ==
            std::vector<int>{INT_MAX - 5, INT_MAX - 4, INT_MAX - 3, INT_MAX - 2, INT_MAX - 1});
  }
  {
    const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
    const auto r = weft::chunked(top - 10, top, 3);
    REQUIRE(r.size() == 4);
    REQUIRE(r[3].first() == top - 1);
    REQUIRE(r[3].last() == top);
    std::uint64_t expected = top - 10;
    for (auto c : r)
      for (std::uint64_t i : c) REQUIRE(i == expected++);
    REQUIRE(expected == top);
  }
  {
    const auto r = weft::chunked(INT_MIN, INT_MIN + 3, 1);
    REQUIRE(r.size() == 3);
    REQUIRE(r[0].first() == INT_MIN);
    REQUIRE(r[2].last() == INT_MIN + 3);
  }
  {
    // All of int: the extent does not fit in int, but the chunking is still exact.
    const auto r = weft::chunked(INT_MIN, INT_MAX, std::size_t{1} << 30);
    REQUIRE(r.extent() == std::numeric_limits<unsigned>::max());
    REQUIRE(r.size() == 4);
    REQUIRE(r[0].first() == INT_MIN);
    REQUIRE(r[1].first() == INT_MIN + (1 << 30));
    REQUIRE(r[3].last() == INT_MAX);
    REQUIRE(r[3].size() == (1u << 30) - 1);
  }
  {
    const auto r = weft::chunked(LLONG_MAX - 4, LLONG_MAX, 0);
    REQUIRE(r.size() == 4);  // automatic grain of 4 indices is 1
    REQUIRE(r[3].last() == LLONG_MAX);
  }
}

TEST_CASE("chunked brings mixed index types to their common type", "[chunked_range]") {
  const std::vector<int> v(10);
  const auto a = weft::chunked(0, v.size(), 3);
  STATIC_REQUIRE(std::is_same_v<decltype(a), const weft::chunked_range<std::size_t>>);
  REQUIRE(a.size() == 4);
  REQUIRE(a[3].last() == 10);

  const auto b = weft::chunked(short{-4}, 5L, 2);
  STATIC_REQUIRE(std::is_same_v<decltype(b)::index_type, long>);
  REQUIRE(b[0].first() == -4L);
  REQUIRE(b.extent() == 9);

  const auto c = weft::chunked(std::uint8_t{1}, 300, 100);
  STATIC_REQUIRE(std::is_same_v<decltype(c)::index_type, int>);
  REQUIRE(c.size() == 3);

  // A negative value with an unsigned type whose common type is signed: fine.
  const auto d = weft::chunked(-5LL, 3u, 4);
  STATIC_REQUIRE(std::is_same_v<decltype(d)::index_type, long long>);
  REQUIRE(d[0].first() == -5);
  REQUIRE(d[1].last() == 3);
}

TEST_CASE("first greater than last throws std::invalid_argument naming first", "[chunked_range]") {
  REQUIRE_THROWS_AS(weft::chunked(5, 3, 1), std::invalid_argument);
  REQUIRE_THROWS_WITH(weft::chunked(5, 3, 1), Catch::Matchers::Contains("first"));
  REQUIRE_THROWS_AS(weft::chunked(std::size_t{10}, std::size_t{0}), std::invalid_argument);
  REQUIRE_THROWS_AS(weft::chunked(-1, -2, 0), std::invalid_argument);
  REQUIRE_THROWS_AS(weft::chunked_range<int>(4, 2, 1), std::invalid_argument);
  REQUIRE_NOTHROW(weft::chunked(3, 3, 1));
}

TEST_CASE("a negative first with an unsigned last throws std::invalid_argument",
          "[chunked_range]") {
  const std::vector<int> v(10);
  REQUIRE_THROWS_AS(weft::chunked(-1, v.size()), std::invalid_argument);
  REQUIRE_THROWS_WITH(weft::chunked(-1, v.size()), Catch::Matchers::Contains("first"));
  REQUIRE_THROWS_AS(weft::chunked(-100, 5u, 1), std::invalid_argument);
  REQUIRE_THROWS_AS(weft::chunked(0u, -1, 1), std::invalid_argument);
}
