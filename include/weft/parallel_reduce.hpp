// weft/parallel_reduce.hpp
//
// Deterministic parallel reduction. The result is the same bit for bit for the same input,
// operations and grain, whatever the pool size or schedule: each chunk is folded left to right
// from `identity`, and the chunk partials are combined in a tree that depends only on the number
// of chunks (see detail/split.hpp). Only associativity is assumed, never commutativity.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>

#include "chunked_range.hpp"
#include "controls.hpp"
#include "detail/split.hpp"
#include "parallel_for.hpp"
#include "thread_pool.hpp"

namespace weft {

// reduce(T, T) -> something convertible to T.
template <class Reduce, class T>
concept reduction = std::copy_constructible<T> && std::move_constructible<T> &&
    std::invocable<Reduce&, T, T> && std::convertible_to<std::invoke_result_t<Reduce&, T, T>, T>;

// A reduction over T whose inputs are `From`s, each converted to T.
template <class Reduce, class T, class From>
concept reduction_of = reduction<Reduce, T> && std::constructible_from<T, From>;

// A reduction over T whose inputs are map(argument), each converted to T.
template <class Reduce, class T, class Map, class Argument>
concept mapped_reduction = reduction<Reduce, T> && std::invocable<Map&, Argument> &&
    std::constructible_from<T, std::invoke_result_t<Map&, Argument>>;

namespace detail {

template <class T, class Partial, class Reduce>
struct reduce_operation {
  using value_type = T;
  Partial& partial;  // chunk index -> T
  Reduce& reduce;
  const T& identity;
  std::size_t grain;
  std::size_t extent;
  T leaf(std::size_t k) { return partial(k); }
  T combine(T&& left, T&& right) { return std::invoke(reduce, std::move(left), std::move(right)); }
  std::size_t indices_in(std::size_t k) const noexcept {
    return std::min(grain, extent - k * grain);
  }
};

// Reduces the chunks of a range of `extent` indices cut by `grain`; partial(k) folds chunk k.
template <class T, class Partial, class Reduce>
std::optional<T> reduce_chunks(thread_pool& pool, std::size_t extent, std::size_t grain,
                               const T& identity, Partial& partial, Reduce& reduce,
                               const controls* options) {
  run_state state(options, extent);
  if (extent == 0) {
    state.finish(true);
    return identity;
  }
  const std::size_t count = extent / grain + (extent % grain != 0 ? 1 : 0);
  reduce_operation<T, Partial, Reduce> op{partial, reduce, identity, grain, extent};
  return run_chunks(pool, op, count, state);
}

// The element forms: fold(acc, element) -> T folds one element into a chunk's partial.
template <class T, class R, class Fold, class Reduce>
std::optional<T> reduce_elements(thread_pool& pool, R& input, const T& identity, Fold fold,
                                 Reduce& reduce, const controls* options) {
  auto first = std::ranges::begin(input);
  const auto extent = static_cast<std::size_t>(std::ranges::size(input));
  const std::size_t grain = automatic_grain(extent);
  auto partial = [&](std::size_t k) {
    T acc = identity;
    const std::size_t begin = k * grain;
    const std::size_t end = begin + std::min(grain, extent - begin);
    for (std::size_t i = begin; i < end; ++i)
      acc = fold(std::move(acc), first[static_cast<std::ranges::range_difference_t<R>>(i)]);
    return acc;
  };
  return reduce_chunks(pool, extent, grain, identity, partial, reduce, options);
}

template <class T, class R, class Reduce>
std::optional<T> reduce_converted(thread_pool& pool, R& input, const T& identity, Reduce& reduce,
                                  const controls* options) {
  auto fold = [&](T&& acc, auto&& element) -> T {
    return std::invoke(reduce, std::move(acc),
                       static_cast<T>(std::forward<decltype(element)>(element)));
  };
  return reduce_elements(pool, input, identity, fold, reduce, options);
}

template <class T, class R, class Map, class Reduce>
std::optional<T> reduce_mapped(thread_pool& pool, R& input, const T& identity, Map& map,
                               Reduce& reduce, const controls* options) {
  auto fold = [&](T&& acc, auto&& element) -> T {
    return std::invoke(reduce, std::move(acc),
                       static_cast<T>(std::invoke(map, std::forward<decltype(element)>(element))));
  };
  return reduce_elements(pool, input, identity, fold, reduce, options);
}

template <class T, class I, class PerChunk, class Reduce>
std::optional<T> reduce_chunked(thread_pool& pool, const chunked_range<I>& range, const T& identity,
                                PerChunk& per_chunk, Reduce& reduce, const controls* options) {
  auto partial = [&](std::size_t k) -> T {
    return static_cast<T>(std::invoke(per_chunk, range[k]));
  };
  return reduce_chunks(pool, static_cast<std::size_t>(range.extent()), range.grain(), identity,
                       partial, reduce, options);
}

}  // namespace detail

// reduce over the elements, each converted to T: identity ⊕ x0 ⊕ x1 ⊕ ... in a fixed bracketing.
template <indexable_range R, class T, class Reduce>
  requires(reduction_of<Reduce, std::decay_t<T>, std::ranges::range_reference_t<R>>)
std::decay_t<T> parallel_reduce(thread_pool& pool, R&& input, T&& identity, Reduce&& reduce) {
  using V = std::decay_t<T>;
  const V id(std::forward<T>(identity));
  return *detail::reduce_converted<V>(pool, input, id, reduce, nullptr);
}
template <indexable_range R, class T, class Reduce>
  requires(reduction_of<Reduce, std::decay_t<T>, std::ranges::range_reference_t<R>>)
std::optional<std::decay_t<T>> parallel_reduce(thread_pool& pool, R&& input, T&& identity,
                                               Reduce&& reduce, const controls& options) {
  using V = std::decay_t<T>;
  const V id(std::forward<T>(identity));
  return detail::reduce_converted<V>(pool, input, id, reduce, &options);
}

// map each element to T, then reduce.
template <indexable_range R, class T, class Map, class Reduce>
  requires(mapped_reduction<Reduce, std::decay_t<T>, Map, std::ranges::range_reference_t<R>>)
std::decay_t<T> parallel_reduce(thread_pool& pool, R&& input, T&& identity, Map&& map,
                                Reduce&& reduce) {
  using V = std::decay_t<T>;
  const V id(std::forward<T>(identity));
  return *detail::reduce_mapped<V>(pool, input, id, map, reduce, nullptr);
}
template <indexable_range R, class T, class Map, class Reduce>
  requires(mapped_reduction<Reduce, std::decay_t<T>, Map, std::ranges::range_reference_t<R>>)
std::optional<std::decay_t<T>> parallel_reduce(thread_pool& pool, R&& input, T&& identity,
                                               Map&& map, Reduce&& reduce,
                                               const controls& options) {
  using V = std::decay_t<T>;
  const V id(std::forward<T>(identity));
  return detail::reduce_mapped<V>(pool, input, id, map, reduce, &options);
}

// per_chunk(chunk) -> T for each chunk, then reduce.
template <index I, class T, class PerChunk, class Reduce>
  requires(mapped_reduction<Reduce, std::decay_t<T>, PerChunk, chunk<I>>)
std::decay_t<T> parallel_reduce(thread_pool& pool, const chunked_range<I>& range, T&& identity,
                                PerChunk&& per_chunk, Reduce&& reduce) {
  using V = std::decay_t<T>;
  const V id(std::forward<T>(identity));
  return *detail::reduce_chunked<V>(pool, range, id, per_chunk, reduce, nullptr);
}
template <index I, class T, class PerChunk, class Reduce>
  requires(mapped_reduction<Reduce, std::decay_t<T>, PerChunk, chunk<I>>)
std::optional<std::decay_t<T>> parallel_reduce(thread_pool& pool, const chunked_range<I>& range,
                                               T&& identity, PerChunk&& per_chunk, Reduce&& reduce,
                                               const controls& options) {
  using V = std::decay_t<T>;
  const V id(std::forward<T>(identity));
  return detail::reduce_chunked<V>(pool, range, id, per_chunk, reduce, &options);
}

// The same on default_pool().
template <indexable_range R, class T, class Reduce>
  requires(reduction_of<Reduce, std::decay_t<T>, std::ranges::range_reference_t<R>>)
std::decay_t<T> parallel_reduce(R&& input, T&& identity, Reduce&& reduce) {
  return parallel_reduce(default_pool(), input, std::forward<T>(identity), reduce);
}
template <indexable_range R, class T, class Reduce>
  requires(reduction_of<Reduce, std::decay_t<T>, std::ranges::range_reference_t<R>>)
std::optional<std::decay_t<T>> parallel_reduce(R&& input, T&& identity, Reduce&& reduce,
                                               const controls& options) {
  return parallel_reduce(default_pool(), input, std::forward<T>(identity), reduce, options);
}
template <indexable_range R, class T, class Map, class Reduce>
  requires(mapped_reduction<Reduce, std::decay_t<T>, Map, std::ranges::range_reference_t<R>>)
std::decay_t<T> parallel_reduce(R&& input, T&& identity, Map&& map, Reduce&& reduce) {
  return parallel_reduce(default_pool(), input, std::forward<T>(identity), map, reduce);
}
template <indexable_range R, class T, class Map, class Reduce>
  requires(mapped_reduction<Reduce, std::decay_t<T>, Map, std::ranges::range_reference_t<R>>)
std::optional<std::decay_t<T>> parallel_reduce(R&& input, T&& identity, Map&& map, Reduce&& reduce,
                                               const controls& options) {
  return parallel_reduce(default_pool(), input, std::forward<T>(identity), map, reduce, options);
}
template <index I, class T, class PerChunk, class Reduce>
  requires(mapped_reduction<Reduce, std::decay_t<T>, PerChunk, chunk<I>>)
std::decay_t<T> parallel_reduce(const chunked_range<I>& range, T&& identity, PerChunk&& per_chunk,
                                Reduce&& reduce) {
  return parallel_reduce(default_pool(), range, std::forward<T>(identity), per_chunk, reduce);
}
template <index I, class T, class PerChunk, class Reduce>
  requires(mapped_reduction<Reduce, std::decay_t<T>, PerChunk, chunk<I>>)
std::optional<std::decay_t<T>> parallel_reduce(const chunked_range<I>& range, T&& identity,
                                               PerChunk&& per_chunk, Reduce&& reduce,
                                               const controls& options) {
  return parallel_reduce(default_pool(), range, std::forward<T>(identity), per_chunk, reduce,
                         options);
}

}  // namespace weft
