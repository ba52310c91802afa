// weft/parallel_for.hpp
//
// parallel_for in three forms: over indices, over the chunks of a chunked_range, and over the
// elements of a random-access range. Each has an overload without the pool (default_pool()) and
// one with trailing controls (stop and progress) that returns weft::status.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <iterator>
#include <ranges>
#include <type_traits>
#include <utility>

#include "chunked_range.hpp"
#include "controls.hpp"
#include "detail/split.hpp"
#include "thread_pool.hpp"

namespace weft {

// What the element forms accept: sized random-access ranges (vector, array, deque, span, iota...).
template <class R>
concept indexable_range = std::ranges::random_access_range<R> && std::ranges::sized_range<R> &&
    !is_chunked_range_v<std::remove_cvref_t<R>>;

namespace detail {

template <class I, class Visit>
struct chunk_visit {
  using value_type = nothing;
  const chunked_range<I>& range;
  Visit& visit;
  void leaf(std::size_t k) { std::invoke(visit, range[k]); }
  std::size_t indices_in(std::size_t k) const noexcept { return range[k].size(); }
};

// The engine of every parallel_for: calls visit(chunk) for each chunk of `range`.
template <class I, class Visit>
status for_each_chunk(thread_pool& pool, const chunked_range<I>& range, Visit& visit,
                      const controls* options) {
  run_state state(options, static_cast<std::size_t>(range.extent()));
  if (range.empty()) return state.finish(true);
  chunk_visit<I, Visit> op{range, visit};
  return run_chunks(pool, op, range.size(), state) ? status::completed : status::stopped;
}

template <class R>
using element_index_t = std::make_unsigned_t<std::ranges::range_difference_t<R>>;

// Visits every element of `input` through body(element).
template <class R, class Body>
status for_each_element(thread_pool& pool, R& input, Body& body, const controls* options) {
  auto first = std::ranges::begin(input);
  const auto count = static_cast<std::size_t>(std::ranges::size(input));
  auto visit = [&](chunk<std::size_t> c) {
    for (std::size_t i : c)
      std::invoke(body, first[static_cast<std::ranges::range_difference_t<R>>(i)]);
  };
  return for_each_chunk(pool, chunked_range<std::size_t>(0, count, 0), visit, options);
}

template <class I, class Body>
status for_each_index(thread_pool& pool, const chunked_range<I>& range, Body& body,
                      const controls* options) {
  auto visit = [&](chunk<I> c) {
    for (I i : c) std::invoke(body, i);
  };
  return for_each_chunk(pool, range, visit, options);
}

}  // namespace detail

// body(i) for every i in [first, last). first and last may be of different integral types; they
// are brought to their common type (see chunked). Throws std::invalid_argument if first > last.
template <index A, index B, class Body>
  requires(std::invocable<Body&, detail::common_index_t<A, B>>)
void parallel_for(thread_pool& pool, A first, B last, Body&& body) {
  detail::for_each_index(pool, chunked(first, last), body, nullptr);
}
template <index A, index B, class Body>
  requires(std::invocable<Body&, detail::common_index_t<A, B>>)
status parallel_for(thread_pool& pool, A first, B last, Body&& body, const controls& options) {
  return detail::for_each_index(pool, chunked(first, last), body, &options);
}

// body(chunk) for every chunk of `range`.
template <index I, class Body>
  requires(std::invocable<Body&, chunk<I>>)
void parallel_for(thread_pool& pool, const chunked_range<I>& range, Body&& body) {
  detail::for_each_chunk(pool, range, body, nullptr);
}
template <index I, class Body>
  requires(std::invocable<Body&, chunk<I>>)
status parallel_for(thread_pool& pool, const chunked_range<I>& range, Body&& body,
                    const controls& options) {
  return detail::for_each_chunk(pool, range, body, &options);
}

// body(element) for every element of `input`; the body receives the range's reference type, so
// it may modify the elements.
template <indexable_range R, class Body>
  requires(std::invocable<Body&, std::ranges::range_reference_t<R>>)
void parallel_for(thread_pool& pool, R&& input, Body&& body) {
  detail::for_each_element(pool, input, body, nullptr);
}
template <indexable_range R, class Body>
  requires(std::invocable<Body&, std::ranges::range_reference_t<R>>)
status parallel_for(thread_pool& pool, R&& input, Body&& body, const controls& options) {
  return detail::for_each_element(pool, input, body, &options);
}

// The same on default_pool().
template <index A, index B, class Body>
  requires(std::invocable<Body&, detail::common_index_t<A, B>>)
void parallel_for(A first, B last, Body&& body) {
  parallel_for(default_pool(), first, last, body);
}
template <index A, index B, class Body>
  requires(std::invocable<Body&, detail::common_index_t<A, B>>)
status parallel_for(A first, B last, Body&& body, const controls& options) {
  return parallel_for(default_pool(), first, last, body, options);
}
template <index I, class Body>
  requires(std::invocable<Body&, chunk<I>>)
void parallel_for(const chunked_range<I>& range, Body&& body) {
  parallel_for(default_pool(), range, body);
}
template <index I, class Body>
  requires(std::invocable<Body&, chunk<I>>)
status parallel_for(const chunked_range<I>& range, Body&& body, const controls& options) {
  return parallel_for(default_pool(), range, body, options);
}
template <indexable_range R, class Body>
  requires(std::invocable<Body&, std::ranges::range_reference_t<R>>)
void parallel_for(R&& input, Body&& body) {
  parallel_for(default_pool(), input, body);
}
template <indexable_range R, class Body>
  requires(std::invocable<Body&, std::ranges::range_reference_t<R>>)
status parallel_for(R&& input, Body&& body, const controls& options) {
  return parallel_for(default_pool(), input, body, options);
}

}  // namespace weft
