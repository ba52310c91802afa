// The primitives' constraints: a call with a wrong function is not viable (rejected by overload
// resolution, not by an error deep inside the library), and the valid calls are.
#include <weft/weft.hpp>

#include <array>
#include <cstddef>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

// Each trait asks whether a call is well-formed, through a requires-expression in a template, so
// that an ill-formed call gives false instead of a compile error.
template <class First, class Last, class Body>
constexpr bool for_index_callable = requires(weft::thread_pool& pool, First first, Last last,
                                             Body body) {
  weft::parallel_for(pool, first, last, body);
};
template <class First, class Last, class Body>
constexpr bool for_index_default_callable = requires(First first, Last last, Body body) {
  weft::parallel_for(first, last, body);
};
template <class Range, class Body>
constexpr bool for_range_callable = requires(weft::thread_pool& pool, Range&& range, Body body) {
  weft::parallel_for(pool, std::forward<Range>(range), body);
};
template <class Range, class F>
constexpr bool map_callable = requires(weft::thread_pool& pool, Range&& range, F f) {
  weft::parallel_map(pool, std::forward<Range>(range), f);
};
template <class Range, class T, class Reduce>
constexpr bool reduce3_callable = requires(weft::thread_pool& pool, Range&& range, T identity,
                                           Reduce reduce) {
  weft::parallel_reduce(pool, std::forward<Range>(range), identity, reduce);
};
template <class Range, class T, class Map, class Reduce>
constexpr bool reduce4_callable = requires(weft::thread_pool& pool, Range&& range, T identity,
                                           Map map, Reduce reduce) {
  weft::parallel_reduce(pool, std::forward<Range>(range), identity, map, reduce);
};
template <class Range, class Op>
constexpr bool inclusive_scan_callable = requires(weft::thread_pool& pool, Range&& range, Op op) {
  weft::parallel_inclusive_scan(pool, std::forward<Range>(range),
                                std::declval<std::vector<int>&>().begin(), op);
};
template <class A, class B>
constexpr bool chunked_callable = requires(A a, B b) {
  weft::chunked(a, b, 1);
};

using int_body = decltype([](int) {});
using size_body = decltype([](std::size_t) {});
using string_body = decltype([](std::string) {});
using no_arg_body = decltype([] {});
using two_arg_body = decltype([](int, int) {});
using chunk_int_body = decltype([](weft::chunk<int>) {});
using chunk_size_body = decltype([](weft::chunk<std::size_t>) {});
using ref_body = decltype([](int&) {});
using ptr_body = decltype([](int*) {});
using plus = std::plus<>;
using one_arg_reduce = decltype([](int x) { return x; });
using string_reduce = decltype([](std::string a, std::string b) { return a + b; });
using void_reduce = decltype([](int, int) {});
using void_map = decltype([](int) {});

}  // namespace

TEST_CASE("parallel_for over indices accepts a body taking the index and rejects others",
          "[concepts]") {
  STATIC_REQUIRE(for_index_callable<int, int, int_body>);
  STATIC_REQUIRE(for_index_callable<int, std::size_t, size_body>);
  STATIC_REQUIRE(for_index_callable<long, short, int_body>);  // long converts to int: callable
  STATIC_REQUIRE(for_index_default_callable<int, int, int_body>);

  STATIC_REQUIRE_FALSE(for_index_callable<int, int, string_body>);
  STATIC_REQUIRE_FALSE(for_index_callable<int, int, no_arg_body>);
  STATIC_REQUIRE_FALSE(for_index_callable<int, int, two_arg_body>);
  STATIC_REQUIRE_FALSE(for_index_callable<int, int, ref_body>);  // an index is not an lvalue int
  STATIC_REQUIRE_FALSE(for_index_default_callable<int, int, string_body>);
  // bool and floating-point are not index types.
  STATIC_REQUIRE_FALSE(for_index_callable<bool, bool, int_body>);
  STATIC_REQUIRE_FALSE(for_index_callable<double, double, int_body>);
  STATIC_REQUIRE_FALSE(for_index_callable<int, double, int_body>);
}

TEST_CASE("parallel_for over chunks accepts a body taking the chunk and rejects others",
          "[concepts]") {
  STATIC_REQUIRE(for_range_callable<weft::chunked_range<int>, chunk_int_body>);
  STATIC_REQUIRE(for_range_callable<const weft::chunked_range<std::size_t>&, chunk_size_body>);
  STATIC_REQUIRE_FALSE(for_range_callable<weft::chunked_range<int>, string_body>);
  STATIC_REQUIRE_FALSE(for_range_callable<weft::chunked_range<int>, no_arg_body>);
  STATIC_REQUIRE_FALSE(for_range_callable<weft::chunked_range<int>, ptr_body>);
}

TEST_CASE("parallel_for over elements accepts a body taking the element and rejects others",
          "[concepts]") {
  STATIC_REQUIRE(for_range_callable<std::vector<int>&, ref_body>);
  STATIC_REQUIRE(for_range_callable<std::vector<int>&, int_body>);
  STATIC_REQUIRE(for_range_callable<std::array<int, 3>&, ref_body>);
  STATIC_REQUIRE(for_range_callable<std::deque<int>&, ref_body>);
  STATIC_REQUIRE(for_range_callable<std::span<int>, ref_body>);
  STATIC_REQUIRE(for_range_callable<std::vector<int>, int_body>);  // rvalue

  STATIC_REQUIRE_FALSE(for_range_callable<std::vector<int>&, string_body>);
  STATIC_REQUIRE_FALSE(for_range_callable<const std::vector<int>&, ref_body>);  // const elements
  STATIC_REQUIRE_FALSE(for_range_callable<std::vector<int>&, no_arg_body>);
}

TEST_CASE("parallel_map rejects a function the elements cannot be passed to, or returning void",
          "[concepts]") {
  STATIC_REQUIRE(map_callable<std::vector<int>&, one_arg_reduce>);
  STATIC_REQUIRE(map_callable<const std::vector<int>&, one_arg_reduce>);
  STATIC_REQUIRE_FALSE(map_callable<std::vector<int>&, string_body>);
  STATIC_REQUIRE_FALSE(map_callable<std::vector<int>&, no_arg_body>);
  STATIC_REQUIRE_FALSE(map_callable<std::vector<int>&, void_map>);
  STATIC_REQUIRE_FALSE(map_callable<std::vector<int>&, two_arg_body>);
}

TEST_CASE("parallel_reduce rejects a reduce that does not take two T and accepts one that does",
          "[concepts]") {
  STATIC_REQUIRE(reduce3_callable<std::vector<int>&, int, plus>);
  STATIC_REQUIRE(reduce3_callable<std::vector<int>&, long long, plus>);
  STATIC_REQUIRE(reduce4_callable<std::vector<int>&, int, one_arg_reduce, plus>);

  STATIC_REQUIRE_FALSE(reduce3_callable<std::vector<int>&, int, one_arg_reduce>);
  STATIC_REQUIRE_FALSE(reduce3_callable<std::vector<int>&, int, void_reduce>);
  STATIC_REQUIRE_FALSE(reduce3_callable<std::vector<int>&, int, string_reduce>);
  STATIC_REQUIRE_FALSE(reduce4_callable<std::vector<int>&, int, one_arg_reduce, one_arg_reduce>);
  // A map that cannot take the element, or whose result cannot become T.
  STATIC_REQUIRE_FALSE(reduce4_callable<std::vector<int>&, int, string_body, plus>);
  STATIC_REQUIRE_FALSE(reduce4_callable<std::vector<int>&, int, void_map, plus>);
  // Elements that cannot be converted to T in the three-argument form.
  STATIC_REQUIRE_FALSE(reduce3_callable<std::vector<std::string>&, int, plus>);
  // A chunked range with a per-chunk function taking something else.
  STATIC_REQUIRE(reduce4_callable<weft::chunked_range<int>, int, decltype([](weft::chunk<int> c) {
                                    return static_cast<int>(c.size());
                                  }),
                                  plus>);
  STATIC_REQUIRE_FALSE(reduce4_callable<weft::chunked_range<int>, int, string_body, plus>);
  STATIC_REQUIRE_FALSE(
      reduce4_callable<weft::chunked_range<int>, int,
                       decltype([](weft::chunk<int> c) { return static_cast<int>(c.size()); }),
                       one_arg_reduce>);
}

TEST_CASE("parallel scans reject an operation that does not take two elements", "[concepts]") {
  STATIC_REQUIRE(inclusive_scan_callable<std::vector<int>&, plus>);
  STATIC_REQUIRE_FALSE(inclusive_scan_callable<std::vector<int>&, one_arg_reduce>);
  STATIC_REQUIRE_FALSE(inclusive_scan_callable<std::vector<int>&, void_reduce>);
}

TEST_CASE("chunked accepts any integral types but bool", "[concepts]") {
  STATIC_REQUIRE(chunked_callable<int, int>);
  STATIC_REQUIRE(chunked_callable<int, std::size_t>);
  STATIC_REQUIRE(chunked_callable<signed char, unsigned long long>);
  STATIC_REQUIRE_FALSE(chunked_callable<bool, int>);
  STATIC_REQUIRE_FALSE(chunked_callable<int, bool>);
  STATIC_REQUIRE_FALSE(chunked_callable<double, int>);
  STATIC_REQUIRE_FALSE(chunked_callable<int*, int*>);
}

TEST_CASE("valid calls of every form compile and run", "[concepts]") {
  // The positive traits above are not only well-formed: the calls they describe work.
  weft::thread_pool pool(2);
  std::vector<int> v{1, 2, 3};
  weft::parallel_for(pool, v, [](int& x) { ++x; });
  REQUIRE(v == std::vector<int>{2, 3, 4});
  REQUIRE(weft::parallel_reduce(
              pool, v, 0, [](int x) { return x; }, std::plus<>{}) == 9);
  REQUIRE(weft::parallel_map(pool, v, [](int x) { return x * 2; }) == std::vector<int>{4, 6, 8});
}
