// gradient.hpp - the arithmetic of the churn model: probabilities and the summed gradient of a
// run of customers, written for the vector unit.
//
// What lives here: the model's types (features, weights, gradient, the train set stored column by
// column), e^z as plain arithmetic, and chunk_gradient(), the loop every epoch spends its time in
// (300 epochs over every train customer).
//
// Why hand-vectorised: the loop is bound by arithmetic, and a call to std::exp per customer keeps
// the compiler from using vector instructions at all. Here customers go through in groups of
// eight, as GCC/Clang vector-extension values of two doubles (SSE2, every x86-64), of four (AVX2)
// or of eight (AVX-512), the widest the processor has chosen at run time. All paths perform the
// very same operations in the very same order, with no fused multiply-add, so the model is
// bitwise the same on every machine, not only for every --threads.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace customer_analysis {

inline constexpr std::size_t feature_count = 7;
using feature_row = std::array<double, feature_count>;

struct churn_weights {
  std::array<double, feature_count> w{};
  double b = 0;
};

struct churn_gradient {
  std::array<double, feature_count + 1> g{};  // weights, then bias
};

// An allocator whose containers leave new elements default-initialised (for doubles: not
// written at all) instead of zeroed. The churn model's arrays are filled by a parallel loop right
// after they are made; zeroing them first would be a pass on one thread that also takes every
// page's first-touch fault there, and cost more than the fill (6 ms for 50,000 customers).
template <class T>
struct uninitialized_allocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = uninitialized_allocator<U>;
  };
  uninitialized_allocator() = default;
  template <class U>
  uninitialized_allocator(const uninitialized_allocator<U>&) noexcept {}
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0)
      ::new (static_cast<void*>(p)) U;
    else
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// A vector for arrays that are written whole before they are read.
template <class T>
using fill_later_vector = std::vector<T, uninitialized_allocator<T>>;

// The train set column by column (one array per feature), in customer_id order, so that a group
// of consecutive customers is one vector load per feature. Made with `customers` rows left
// unwritten, for set() to fill.
struct train_columns {
  std::array<fill_later_vector<double>, feature_count> x;
  fill_later_vector<double> y;

  explicit train_columns(std::size_t customers = 0) : y(customers) {
    for (auto& column : x) column.resize(customers);
  }
  std::size_t size() const { return y.size(); }
  void set(std::size_t i, const feature_row& row, double label) {
    for (std::size_t j = 0; j < feature_count; ++j) x[j][i] = row[j];
    y[i] = label;
  }
  void push_back(const feature_row& row, double label) {
    for (std::size_t j = 0; j < feature_count; ++j) x[j].push_back(row[j]);
    y.push_back(label);
  }
};

namespace vector_math {

// GCC/Clang vector-extension types: arithmetic applies lane by lane, a scalar operand is
// broadcast, a comparison gives a mask of all-ones lanes, and a cast between two types of the same
// size reinterprets the bits. double2 is one SSE2 register, double4 one AVX register. Every
// function below takes and returns them by reference: passing a double4 by value from code
// compiled without AVX would use a different calling convention than code compiled with it.
using double2 = double __attribute__((vector_size(16)));
using uint2 = std::uint64_t __attribute__((vector_size(16)));
using double4 = double __attribute__((vector_size(32)));
using uint4 = std::uint64_t __attribute__((vector_size(32)));
using double8 = double __attribute__((vector_size(64)));
using uint64x8 = std::uint64_t __attribute__((vector_size(64)));

template <class Real>
struct bits_of;
template <>
struct bits_of<double2> {
  using type = uint2;
};
template <>
struct bits_of<double4> {
  using type = uint4;
};
template <>
struct bits_of<double8> {
  using type = uint64x8;
};

// z = b + w . x, added as a tree of depth three rather than a chain of seven additions: the sum is
// on the critical path of every customer. `x(j)` gives feature j (a double, or a vector of them).
template <class Real, class Feature>
[[gnu::always_inline]] inline void linear(Real& z, const churn_weights& m, Feature&& x) {
  static_assert(feature_count == 7, "the tree below adds exactly seven products");
  const auto& w = m.w;
  z = ((m.b + w[0] * x(0)) + (w[1] * x(1) + w[2] * x(2))) +
      ((w[3] * x(3) + w[4] * x(4)) + (w[5] * x(5) + w[6] * x(6)));
}

// z = e^z per lane. e^z = 2^k e^r with k = round(z / ln 2) and |r| <= ln(2) / 2: e^r from its
// Taylor series to r^13 (truncation below 1e-17 relative), in Estrin's scheme (a dependency chain
// of five multiply-adds rather than Horner's thirteen), 2^k written straight into the exponent
// bits. Within 5e-16 relative of std::exp; the contract asks churn figures to agree to 1e-6.
template <class Real>
[[gnu::always_inline]] inline void exp_in_place(Real& z) {
  using bits = typename bits_of<Real>::type;
  constexpr double log2e = 1.4426950408889634;
  constexpr double ln2_high = 6.93147180369123816490e-01;  // low 21 bits zero: k * ln2_high exact
  constexpr double ln2_low = 1.90821492927058770002e-10;
  constexpr double round_shift = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  constexpr auto inverse_factorial = [](int n) {
    double f = 1;
    for (int i = 2; i <= n; ++i) f *= i;
    return 1.0 / f;
  };
  // Clamp to [-708, 709], where 2^k stays a normal number: a select, exact.
  const Real lowest = Real{} - 708.0, highest = Real{} + 709.0;
  const bits below = (bits)(z < lowest), above = (bits)(z > highest);
  z = (Real)(((bits)z & ~below) | ((bits)lowest & below));
  z = (Real)(((bits)z & ~above) | ((bits)highest & above));

  const Real shifted = z * log2e + round_shift;
  const Real k = shifted - round_shift;
  const Real r = (z - k * ln2_high) - k * ln2_low;
  const Real r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  constexpr double c2 = inverse_factorial(2), c3 = inverse_factorial(3), c4 = inverse_factorial(4),
                   c5 = inverse_factorial(5), c6 = inverse_factorial(6), c7 = inverse_factorial(7),
                   c8 = inverse_factorial(8), c9 = inverse_factorial(9),
                   c10 = inverse_factorial(10), c11 = inverse_factorial(11),
                   c12 = inverse_factorial(12), c13 = inverse_factorial(13);
  const Real low = ((1.0 + r) + (c2 + c3 * r) * r2) + ((c4 + c5 * r) + (c6 + c7 * r) * r2) * r4;
  const Real high = ((c8 + c9 * r) + (c10 + c11 * r) * r2) + (c12 + c13 * r) * r4;
  // The low bits of `shifted` hold k (two's complement around the shift's own bits).
  const bits k_bits = (bits)shifted - std::bit_cast<std::uint64_t>(round_shift);
  z = (low + high * r8) * (Real)((k_bits + 1023) << 52);
}

// z = 1 / (1 + e^-z) per lane.
template <class Real>
[[gnu::always_inline]] inline void logistic_in_place(Real& z) {
  z = -z;
  exp_in_place(z);
  z = 1.0 / (1.0 + z);
}

// Eight customers of chunk_gradient: their features, then their labels, in vectors.
template <class Real, std::size_t Vectors>
using customer_group = std::array<std::array<Real, Vectors>, feature_count + 1>;

// p - y for each customer of a group, `count` of them real: the rest is zero padding, given a zero
// error so that it adds exact zeros.
template <class Real, std::size_t Vectors>
[[gnu::always_inline]] inline void group_errors(const churn_weights& m,
                                                const customer_group<Real, Vectors>& x,
                                                std::size_t count, std::array<Real, Vectors>& err) {
  constexpr std::size_t width = sizeof(Real) / sizeof(double);
  for (std::size_t v = 0; v < Vectors; ++v) {
    Real z;
    linear(z, m, [&](std::size_t j) -> const Real& { return x[j][v]; });
    logistic_in_place(z);
    err[v] = z - x[feature_count][v];
  }
  for (std::size_t l = count; l < Vectors * width; ++l) err[l / width][l % width] = 0.0;
}

// Adds a group's (p - y) x and (p - y) to the running sums, customer l of the group to sum l.
template <class Real, std::size_t Vectors>
[[gnu::always_inline]] inline void add_group(const customer_group<Real, Vectors>& x,
                                             const std::array<Real, Vectors>& err,
                                             customer_group<Real, Vectors>& sums) {
  for (std::size_t j = 0; j < feature_count; ++j)
    for (std::size_t v = 0; v < Vectors; ++v) sums[j][v] += err[v] * x[j][v];
  for (std::size_t v = 0; v < Vectors; ++v) sums[feature_count][v] += err[v];
}

// The loop of chunk_gradient, for one vector type. Customers go through in groups of eight, the
// last one padded. Customer first + i adds to running sum i % 8 of each component; the eight sums
// are added as a balanced tree at the end. A fixed order, so the result depends on the rows alone,
// whatever the vector width.
template <class Real>
[[gnu::always_inline]] inline churn_gradient gradient(const churn_weights& m,
                                                      const train_columns& t, std::size_t first,
                                                      std::size_t last) {
  constexpr std::size_t group = 8, width = sizeof(Real) / sizeof(double), vectors = group / width;
  auto column = [&](std::size_t j) { return (j < feature_count ? t.x[j] : t.y).data(); };
  customer_group<Real, vectors> sums{}, x;
  std::size_t i = first;
  customer_group<Real, vectors> x2;
  std::array<Real, vectors> err, err2;
  // Two groups a step, their errors first: two independent chains of exp for the processor to
  // overlap. They are added to the sums in customer order, as one group a step would.
  for (; i + 2 * group <= last; i += 2 * group) {
    for (std::size_t j = 0; j <= feature_count; ++j) {
      std::memcpy(&x[j], column(j) + i, sizeof x[j]);
      std::memcpy(&x2[j], column(j) + i + group, sizeof x2[j]);
    }
    group_errors(m, x, group, err);
    group_errors(m, x2, group, err2);
    add_group(x, err, sums);
    add_group(x2, err2, sums);
  }
  for (; i < last; i += group) {
    const std::size_t count = std::min(group, last - i);
    if (count < group) x = {};  // the padding of the last group
    for (std::size_t j = 0; j <= feature_count; ++j)
      std::memcpy(&x[j], column(j) + i, count * sizeof(double));
    group_errors(m, x, count, err);
    add_group(x, err, sums);
  }
  churn_gradient out;
  for (std::size_t j = 0; j <= feature_count; ++j) {
    std::array<double, group> lane;
    for (std::size_t l = 0; l < group; ++l) lane[l] = sums[j][l / width][l % width];
    for (std::size_t n = group; n > 1; n /= 2)
      for (std::size_t l = 0; l < n / 2; ++l) lane[l] = lane[2 * l] + lane[2 * l + 1];
    out.g[j] = lane[0];
  }
  return out;
}

inline churn_gradient gradient_sse2(const churn_weights& m, const train_columns& t,
                                    std::size_t first, std::size_t last) {
  return gradient<double2>(m, t, first, last);
}

#if defined(__x86_64__)
// AVX2 without FMA: a fused multiply-add rounds once where SSE2 rounds twice, and would make the
// two paths differ in the last bits.
[[gnu::target("avx2")]] inline churn_gradient gradient_avx2(const churn_weights& m,
                                                            const train_columns& t,
                                                            std::size_t first, std::size_t last) {
  return gradient<double4>(m, t, first, last);
}

// AVX-512: a group of eight customers is one register. AVX-512F has fused multiply-adds, so this
// path relies on the compiler not fusing a * b + c on its own: the example builds with
// -ffp-contract=off (CMakeLists.txt), and a test checks the three paths bitwise equal.
[[gnu::target("avx512f")]] inline churn_gradient gradient_avx512(const churn_weights& m,
                                                                 const train_columns& t,
                                                                 std::size_t first,
                                                                 std::size_t last) {
  return gradient<double8>(m, t, first, last);
}
#endif

}  // namespace vector_math

// The probability of churn for one customer's (standardised) features.
inline double churn_probability(const churn_weights& m, const feature_row& x) {
  double z;
  vector_math::linear(z, m, [&](std::size_t j) { return x[j]; });
  vector_math::double2 lanes = {z, z};
  vector_math::logistic_in_place(lanes);
  return lanes[0];
}

// The summed gradient of the log-loss over train customers [first, last):
// sum of (p - y) x per weight and of (p - y) for the bias.
inline churn_gradient chunk_gradient(const churn_weights& m, const train_columns& t,
                                     std::size_t first, std::size_t last) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx512) return vector_math::gradient_avx512(m, t, first, last);
  if (avx2) return vector_math::gradient_avx2(m, t, first, last);
#endif
  return vector_math::gradient_sse2(m, t, first, last);
}

}  // namespace customer_analysis
