// weft/parallel_scan.hpp
//
// Prefix sums, inclusive and exclusive, from a random-access range into an output iterator, like
// std::inclusive_scan / std::exclusive_scan but in parallel and deterministic: the chunks are a
// function of the input size alone, so the bracketing of every output is fixed.
//
// Two passes over the chunks: (1) each chunk's total, (2) each chunk rescanned from the combined
// totals of the chunks before it. Between them, the chunk totals are scanned in order.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <iterator>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include "chunked_range.hpp"
#include "controls.hpp"
#include "detail/split.hpp"
#include "parallel_for.hpp"
#include "parallel_reduce.hpp"  // the reduction concepts
#include "thread_pool.hpp"

namespace weft {

namespace detail {

// carry: the combined value of everything before the first chunk (empty for an inclusive scan).
template <class T, class R, class Out, class Op>
status scan(thread_pool& pool, R& input, Out out, std::optional<T> carry, Op& op, bool inclusive,
            const controls* options) {
  auto first = std::ranges::begin(input);
  const auto extent = static_cast<std::size_t>(std::ranges::size(input));
  const chunked_range<std::size_t> chunks(0, extent, 0);
  auto element = [&](std::size_t i) -> T {
    return static_cast<T>(first[static_cast<std::ranges::range_difference_t<R>>(i)]);
  };
  auto combine = [&](std::optional<T>& acc, T&& value) {
    if (acc) {
      acc = static_cast<T>(std::invoke(op, std::move(*acc), std::move(value)));
    } else {
      acc.emplace(std::move(value));
    }
  };

  // Pass 1: each chunk's total. No progress reported here: only pass 2 counts.
  std::vector<std::optional<T>> totals(chunks.size());
  auto total_of = [&](chunk<std::size_t> c) {
    std::optional<T> acc;
    for (std::size_t i : c) combine(acc, element(i));
    totals[c.index()] = std::move(acc);
  };
  controls stop_only;
  if (options != nullptr) stop_only.stop = options->stop;
  if (chunks.size() > 1 && for_each_chunk(pool, chunks, total_of, &stop_only) == status::stopped)
    return status::stopped;

  // The carry into each chunk, in order.
  std::vector<std::optional<T>> carries(chunks.size());
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    carries[k] = carry;
    if (k + 1 < chunks.size()) combine(carry, std::move(*totals[k]));
  }

  // Pass 2: rescan each chunk from its carry.
  auto rescan = [&](chunk<std::size_t> c) {
    std::optional<T> acc = std::move(carries[c.index()]);
    for (std::size_t i : c) {
      const auto at = static_cast<std::iter_difference_t<Out>>(i);
      T value = element(i);  // read before writing: the output may be the input (in place)
      if (inclusive) {
        combine(acc, std::move(value));
        out[at] = *acc;
      } else {
        out[at] = *acc;  // an exclusive scan always starts from its initial value
        combine(acc, std::move(value));
      }
    }
  };
  return for_each_chunk(pool, chunks, rescan, options);
}

}  // namespace detail

// out[i] = in[0] op in[1] op ... op in[i]. T is the input's value type.
template <indexable_range R, std::random_access_iterator Out, class Op>
  requires(reduction<Op, std::ranges::range_value_t<R>>)
void parallel_inclusive_scan(thread_pool& pool, R&& input, Out out, Op&& op) {
  detail::scan<std::ranges::range_value_t<R>>(pool, input, out, std::nullopt, op, true, nullptr);
}
template <indexable_range R, std::random_access_iterator Out, class Op>
  requires(reduction<Op, std::ranges::range_value_t<R>>)
status parallel_inclusive_scan(thread_pool& pool, R&& input, Out out, Op&& op,
                               const controls& options) {
  return detail::scan<std::ranges::range_value_t<R>>(pool, input, out, std::nullopt, op, true,
                                                     &options);
}

// out[i] = init op in[0] op ... op in[i-1] (out[0] = init). T is init's type.
template <indexable_range R, std::random_access_iterator Out, class T, class Op>
  requires(reduction_of<Op, std::decay_t<T>, std::ranges::range_reference_t<R>>)
void parallel_exclusive_scan(thread_pool& pool, R&& input, Out out, T&& init, Op&& op) {
  detail::scan<std::decay_t<T>>(
      pool, input, out, std::optional<std::decay_t<T>>(std::forward<T>(init)), op, false, nullptr);
}
template <indexable_range R, std::random_access_iterator Out, class T, class Op>
  requires(reduction_of<Op, std::decay_t<T>, std::ranges::range_reference_t<R>>)
status parallel_exclusive_scan(thread_pool& pool, R&& input, Out out, T&& init, Op&& op,
                               const controls& options) {
  return detail::scan<std::decay_t<T>>(
      pool, input, out, std::optional<std::decay_t<T>>(std::forward<T>(init)), op, false, &options);
}

// The same on default_pool().
template <indexable_range R, std::random_access_iterator Out, class Op>
  requires(reduction<Op, std::ranges::range_value_t<R>>)
void parallel_inclusive_scan(R&& input, Out out, Op&& op) {
  parallel_inclusive_scan(default_pool(), input, out, op);
}
template <indexable_range R, std::random_access_iterator Out, class T, class Op>
  requires(reduction_of<Op, std::decay_t<T>, std::ranges::range_reference_t<R>>)
void parallel_exclusive_scan(R&& input, Out out, T&& init, Op&& op) {
  parallel_exclusive_scan(default_pool(), input, out, std::forward<T>(init), op);
}

}  // namespace weft
