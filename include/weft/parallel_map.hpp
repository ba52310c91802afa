// weft/parallel_map.hpp
//
// parallel_map(pool, input, f) -> std::vector<R> with out[i] == f(input[i]), order kept. R need
// not be default-constructible; R = bool still gives std::vector<bool>, written without races.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include "chunked_range.hpp"
#include "controls.hpp"
#include "detail/split.hpp"
#include "parallel_for.hpp"
#include "thread_pool.hpp"

namespace weft {

template <class R, class F>
using map_result_t = std::decay_t<std::invoke_result_t<F&, std::ranges::range_reference_t<R>>>;

namespace detail {

// Elements built in place in raw storage, chunk by chunk; only the chunks that finished are
// destroyed if the map stops or throws, so nothing leaks and nothing is destroyed twice.
template <class T>
class chunked_buffer {
 public:
  chunked_buffer(std::size_t extent, const chunked_range<std::size_t>& chunks)
      : chunks_(chunks),
        data_(std::allocator<T>().allocate(extent)),
        extent_(extent),
        built_(chunks.size()) {}
  chunked_buffer(const chunked_buffer&) = delete;
  chunked_buffer& operator=(const chunked_buffer&) = delete;
  ~chunked_buffer() {
    for (std::size_t k = 0; k < built_.size(); ++k)
      if (built_[k]) std::destroy(data_ + chunks_[k].first(), data_ + chunks_[k].last());
    std::allocator<T>().deallocate(data_, extent_);
  }

  template <class Make>
  void build_chunk(std::size_t k, Make&& make) {
    const chunk<std::size_t> c = chunks_[k];
    std::size_t i = c.first();
    try {
      for (; i < c.last(); ++i) ::new (static_cast<void*>(data_ + i)) T(make(i));
    } catch (...) {
      std::destroy(data_ + c.first(), data_ + i);
      throw;
    }
    built_[k] = 1;  // each chunk writes its own byte: no race
  }

  std::vector<T> release_into_vector() && {
    std::vector<T> out;
    out.reserve(extent_);
    for (std::size_t i = 0; i < extent_; ++i) out.push_back(std::move(data_[i]));
    return out;
  }

 private:
  chunked_range<std::size_t> chunks_;
  T* data_;
  std::size_t extent_;
  std::vector<unsigned char> built_;
};

template <class Out, class R, class F>
std::optional<std::vector<Out>> map_elements(thread_pool& pool, R& input, F& f,
                                             const controls* options) {
  auto first = std::ranges::begin(input);
  const auto extent = static_cast<std::size_t>(std::ranges::size(input));
  const chunked_range<std::size_t> chunks(0, extent, 0);
  auto element = [&](std::size_t i) -> decltype(auto) {
    return first[static_cast<std::ranges::range_difference_t<R>>(i)];
  };

  if constexpr (std::is_same_v<Out, bool>) {
    // Neighbouring bits of a vector<bool> share a word: compute bytes, then pack.
    std::vector<unsigned char> bytes(extent);
    auto visit = [&](chunk<std::size_t> c) {
      for (std::size_t i : c) bytes[i] = static_cast<bool>(std::invoke(f, element(i)));
    };
    if (for_each_chunk(pool, chunks, visit, options) == status::stopped) return std::nullopt;
    return std::vector<bool>(bytes.begin(), bytes.end());
  } else if constexpr (std::is_default_constructible_v<Out> && std::is_move_assignable_v<Out>) {
    std::vector<Out> out(extent);
    auto visit = [&](chunk<std::size_t> c) {
      for (std::size_t i : c) out[i] = std::invoke(f, element(i));
    };
    if (for_each_chunk(pool, chunks, visit, options) == status::stopped) return std::nullopt;
    return out;
  } else {
    chunked_buffer<Out> buffer(extent, chunks);
    auto visit = [&](chunk<std::size_t> c) {
      buffer.build_chunk(c.index(), [&](std::size_t i) { return std::invoke(f, element(i)); });
    };
    if (for_each_chunk(pool, chunks, visit, options) == status::stopped) return std::nullopt;
    return std::move(buffer).release_into_vector();
  }
}

}  // namespace detail

template <indexable_range R, class F>
  requires(std::invocable<F&, std::ranges::range_reference_t<R>> &&
           (!std::is_void_v<std::invoke_result_t<F&, std::ranges::range_reference_t<R>>>))
std::vector<map_result_t<R, F>> parallel_map(thread_pool& pool, R&& input, F&& f) {
  return *detail::map_elements<map_result_t<R, F>>(pool, input, f, nullptr);
}
template <indexable_range R, class F>
  requires(std::invocable<F&, std::ranges::range_reference_t<R>> &&
           (!std::is_void_v<std::invoke_result_t<F&, std::ranges::range_reference_t<R>>>))
std::optional<std::vector<map_result_t<R, F>>> parallel_map(thread_pool& pool, R&& input, F&& f,
                                                            const controls& options) {
  return detail::map_elements<map_result_t<R, F>>(pool, input, f, &options);
}

template <indexable_range R, class F>
  requires(std::invocable<F&, std::ranges::range_reference_t<R>> &&
           (!std::is_void_v<std::invoke_result_t<F&, std::ranges::range_reference_t<R>>>))
std::vector<map_result_t<R, F>> parallel_map(R&& input, F&& f) {
  return parallel_map(default_pool(), input, f);
}
template <indexable_range R, class F>
  requires(std::invocable<F&, std::ranges::range_reference_t<R>> &&
           (!std::is_void_v<std::invoke_result_t<F&, std::ranges::range_reference_t<R>>>))
std::optional<std::vector<map_result_t<R, F>>> parallel_map(R&& input, F&& f,
                                                            const controls& options) {
  return parallel_map(default_pool(), input, f, options);
}

}  // namespace weft
