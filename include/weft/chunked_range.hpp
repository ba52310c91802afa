// weft/chunked_range.hpp
//
// A half-open integer interval [first, last) cut into chunks of `grain` indices. The chunks are a
// pure function of (first, last, grain): never of the pool or the machine. That is what makes
// parallel_reduce deterministic, and what lets a body rely on chunk k always being the same.
//
// Grain 0 means automatic, chosen from the number of indices alone (see automatic_grain).
#pragma once

#include <algorithm>
#include <compare>
#include <concepts>
#include <cstddef>
#include <iterator>
#include <limits>
#include <ranges>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace weft {

// Any integral type but bool.
template <class I>
concept index = std::integral<I> && !std::same_as<std::remove_cv_t<I>, bool>;

// The automatic grain for `count` indices: about 2*sqrt(count) chunks, at least 64 (so that a
// short loop of heavy iterations still spreads over many workers) and at most 16384 (so that
// per-chunk costs vanish on long ranges), and never fewer than one index per chunk:
//
//   chunks = clamp(2 * isqrt(count), 64, 16384);  grain = ceil(count / chunks)
//
// e.g. 100 -> grain 2, 1000 -> 16, 2000 -> 23, 2^20 -> 512, 2^26 -> 4096.
constexpr std::size_t automatic_grain(std::size_t count) noexcept {
  if (count == 0) return 1;
  std::size_t root = 0;  // isqrt by bisection: exact and constexpr
  for (std::size_t low = 0, high = std::min<std::size_t>(count, std::size_t{1} << 32);
       low <= high;) {
    const std::size_t mid = low + (high - low) / 2;
    if (mid == 0 || mid <= count / mid) {
      root = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  const std::size_t chunks = std::clamp<std::size_t>(
      root > std::numeric_limits<std::size_t>::max() / 2 ? root : 2 * root, 64, 16384);
  return count / chunks + (count % chunks != 0 ? 1 : 0);
}

namespace detail {

// A random-access iterator over consecutive integers, yielding them by value. (std::views::iota
// would do, but clang 14 cannot compile libstdc++ 12's views; weft's headers avoid them.)
template <class I>
class index_iterator {
  using unsigned_type = std::make_unsigned_t<I>;

 public:
  using iterator_concept = std::random_access_iterator_tag;
  using iterator_category = std::random_access_iterator_tag;
  using value_type = I;
  using difference_type = std::ptrdiff_t;
  using reference = I;
  using pointer = void;

  constexpr index_iterator() = default;
  constexpr explicit index_iterator(I value) noexcept : value_(value) {}

  constexpr I operator*() const noexcept { return value_; }
  constexpr I operator[](difference_type n) const noexcept { return *(*this + n); }
  constexpr index_iterator& operator++() noexcept { return *this += 1; }
  constexpr index_iterator operator++(int) noexcept {
    auto copy = *this;
    ++*this;
    return copy;
  }
  constexpr index_iterator& operator--() noexcept { return *this -= 1; }
  constexpr index_iterator operator--(int) noexcept {
    auto copy = *this;
    --*this;
    return copy;
  }
  constexpr index_iterator& operator+=(difference_type n) noexcept {
    // Unsigned arithmetic: wraps instead of overflowing, and the result is in range anyway.
    value_ = static_cast<I>(static_cast<unsigned_type>(static_cast<unsigned_type>(value_) +
                                                       static_cast<unsigned_type>(n)));
    return *this;
  }
  constexpr index_iterator& operator-=(difference_type n) noexcept { return *this += -n; }
  friend constexpr index_iterator operator+(index_iterator it, difference_type n) noexcept {
    return it += n;
  }
  friend constexpr index_iterator operator+(difference_type n, index_iterator it) noexcept {
    return it += n;
  }
  friend constexpr index_iterator operator-(index_iterator it, difference_type n) noexcept {
    return it -= n;
  }
  friend constexpr difference_type operator-(index_iterator a, index_iterator b) noexcept {
    return static_cast<difference_type>(static_cast<unsigned_type>(
        static_cast<unsigned_type>(a.value_) - static_cast<unsigned_type>(b.value_)));
  }
  friend constexpr bool operator==(index_iterator a, index_iterator b) noexcept {
    return a.value_ == b.value_;
  }
  friend constexpr auto operator<=>(index_iterator a, index_iterator b) noexcept {
    return a.value_ <=> b.value_;
  }

 private:
  I value_{};
};

}  // namespace detail

// One chunk: a sized random-access range of the indices [first(), last()), the index()-th chunk of
// its chunked_range.
template <index I>
class chunk {
 public:
  using index_type = I;
  using size_type = std::make_unsigned_t<I>;
  using iterator = detail::index_iterator<I>;

  constexpr chunk() = default;
  constexpr chunk(I first, I last, std::size_t ordinal) noexcept
      : first_(first), last_(last), ordinal_(ordinal) {}

  constexpr I first() const noexcept { return first_; }
  constexpr I last() const noexcept { return last_; }  // one past the end
  constexpr size_type size() const noexcept {
    return static_cast<size_type>(static_cast<size_type>(last_) - static_cast<size_type>(first_));
  }
  constexpr bool empty() const noexcept { return first_ == last_; }
  constexpr std::size_t index() const noexcept { return ordinal_; }
  constexpr I operator[](std::size_t n) const noexcept {
    return begin()[static_cast<std::ptrdiff_t>(n)];
  }

  constexpr iterator begin() const noexcept { return iterator(first_); }
  constexpr iterator end() const noexcept { return iterator(last_); }

 private:
  I first_{};
  I last_{};
  std::size_t ordinal_ = 0;
};

template <index I>
class chunked_range {
 public:
  using index_type = I;
  using size_type = std::make_unsigned_t<I>;
  static_assert(sizeof(size_type) <= sizeof(std::size_t), "weft: index type wider than size_t");

  class iterator {
   public:
    using iterator_concept = std::random_access_iterator_tag;
    using iterator_category = std::input_iterator_tag;  // operator* returns a value
    using value_type = chunk<I>;
    using difference_type = std::ptrdiff_t;

    constexpr iterator() = default;
    constexpr iterator(const chunked_range* range, std::size_t k) noexcept : range_(range), k_(k) {}
    constexpr chunk<I> operator*() const noexcept { return (*range_)[k_]; }
    constexpr chunk<I> operator[](difference_type n) const noexcept {
      return (*range_)[k_ + static_cast<std::size_t>(n)];
    }
    constexpr iterator& operator++() noexcept {
      ++k_;
      return *this;
    }
    constexpr iterator operator++(int) noexcept {
      auto copy = *this;
      ++k_;
      return copy;
    }
    constexpr iterator& operator--() noexcept {
      --k_;
      return *this;
    }
    constexpr iterator operator--(int) noexcept {
      auto copy = *this;
      --k_;
      return copy;
    }
    constexpr iterator& operator+=(difference_type n) noexcept {
      k_ += static_cast<std::size_t>(n);
      return *this;
    }
    constexpr iterator& operator-=(difference_type n) noexcept {
      k_ -= static_cast<std::size_t>(n);
      return *this;
    }
    friend constexpr iterator operator+(iterator it, difference_type n) noexcept { return it += n; }
    friend constexpr iterator operator+(difference_type n, iterator it) noexcept { return it += n; }
    friend constexpr iterator operator-(iterator it, difference_type n) noexcept { return it -= n; }
    friend constexpr difference_type operator-(const iterator& a, const iterator& b) noexcept {
      return static_cast<difference_type>(a.k_) - static_cast<difference_type>(b.k_);
    }
    friend constexpr bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.k_ == b.k_;
    }
    friend constexpr auto operator<=>(const iterator& a, const iterator& b) noexcept {
      return a.k_ <=> b.k_;
    }

   private:
    const chunked_range* range_ = nullptr;
    std::size_t k_ = 0;
  };

  constexpr chunked_range() = default;

  // Throws std::invalid_argument if first > last.
  constexpr chunked_range(I first, I last, std::size_t grain) : first_(first), last_(last) {
    if (first > last)
      throw std::invalid_argument("weft::chunked: first (" + std::to_string(first) +
                                  ") is greater than last (" + std::to_string(last) + ")");
    const std::size_t count = static_cast<std::size_t>(extent());
    grain_ = grain != 0 ? grain : automatic_grain(count);
    chunks_ = count / grain_ + (count % grain_ != 0 ? 1 : 0);
  }

  constexpr I first() const noexcept { return first_; }
  constexpr I last() const noexcept { return last_; }
  constexpr std::size_t grain() const noexcept { return grain_; }  // the effective grain
  constexpr std::size_t size() const noexcept { return chunks_; }  // number of chunks
  constexpr bool empty() const noexcept { return chunks_ == 0; }
  constexpr size_type extent() const noexcept {  // number of indices
    return static_cast<size_type>(static_cast<size_type>(last_) - static_cast<size_type>(first_));
  }

  // Chunk k is exactly [first + k*grain, min(first + (k+1)*grain, last)). Requires k < size().
  constexpr chunk<I> operator[](std::size_t k) const noexcept {
    const std::size_t begin = k * grain_;  // <= extent(): no overflow
    const std::size_t length = std::min(grain_, static_cast<std::size_t>(extent()) - begin);
    return chunk<I>(offset(begin), offset(begin + length), k);
  }

  constexpr iterator begin() const noexcept { return iterator(this, 0); }
  constexpr iterator end() const noexcept { return iterator(this, chunks_); }

 private:
  // first + n, computed in the unsigned type so that no intermediate overflows.
  constexpr I offset(std::size_t n) const noexcept {
    return static_cast<I>(
        static_cast<size_type>(static_cast<size_type>(first_) + static_cast<size_type>(n)));
  }

  I first_{};
  I last_{};
  std::size_t grain_ = 1;
  std::size_t chunks_ = 0;
};

template <class T>
inline constexpr bool is_chunked_range_v = false;
template <class I>
inline constexpr bool is_chunked_range_v<chunked_range<I>> = true;

namespace detail {

// The common index type of two integral types, and a checked conversion into it: a negative
// value cannot become an unsigned index, so it is reported instead of wrapping.
template <index A, index B>
using common_index_t = std::common_type_t<A, B>;

template <index To, index From>
constexpr To to_index(From value, const char* what) {
  // To is the common type of the two, so only one thing can go wrong: a negative value and an
  // unsigned common type.
  if constexpr (std::is_signed_v<From> && std::is_unsigned_v<To>) {
    if (value < 0)
      throw std::invalid_argument(
          std::string("weft: ") + what + " (" + std::to_string(value) +
          ") is negative but the common index type of first and last is unsigned");
  }
  return static_cast<To>(value);
}

}  // namespace detail

// chunked(first, last, grain): first and last may be any integral types (not bool); they are
// brought to their common type. Throws std::invalid_argument if first > last, or if a negative
// value meets an unsigned type it cannot be represented in.
template <index A, index B>
constexpr chunked_range<detail::common_index_t<A, B>> chunked(A first, B last,
                                                              std::size_t grain = 0) {
  using I = detail::common_index_t<A, B>;
  return chunked_range<I>(detail::to_index<I>(first, "first"), detail::to_index<I>(last, "last"),
                          grain);
}

}  // namespace weft

template <weft::index I>
inline constexpr bool std::ranges::enable_borrowed_range<weft::chunk<I>> = true;
