// weft/mpi.hpp - deterministic reductions across MPI processes (optional).
//
// Only code that includes this header needs MPI (<mpi.h> and its library); no other weft header
// includes it, and weft::weft does not link MPI.
//
// The problem it solves: weft::parallel_reduce gives the same bits for any pool size because its
// combine tree depends only on the number of chunks (see detail/split.hpp). Across processes, a
// plain MPI_Allreduce of floating-point partials combines them in an order that depends on the
// number of processes (and on the MPI implementation), so the result changes with -np.
//
// deterministic_allreduce keeps weft's tree across processes: the K leaves of a reduction (one per
// chunk, each computed exactly as parallel_reduce's chunk function would) are spread over the ranks
// of a communicator in contiguous runs, rank 0 first; the leaves are allgathered and every rank
// combines all K of them with weft::parallel_reduce over K chunks of one leaf each. That is the
// tree of a single-process weft::parallel_reduce with K chunks, so every rank gets the same value,
// bit for bit, as one process computing all the chunks itself - for any number of ranks, threads
// and any split of the leaves among ranks.
//
// Cost per call: every rank receives all K leaves (K * sizeof(T) bytes) and combines them; with a
// grain of G elements per leaf that is sizeof(T) / G bytes per reduced element.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

// Only MPI's C interface is used: skip the deprecated C++ bindings that some MPI headers still
// pull in (and that do not compile warning-free).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include "chunked_range.hpp"
#include "parallel_reduce.hpp"
#include "thread_pool.hpp"
#include <mpi.h>

namespace weft::mpi {

// The contiguous run of leaves [first, last) that `rank` of `size` ranks owns when `count` leaves
// are spread evenly (the first count % size ranks get one more).
struct leaf_range {
  std::size_t first = 0, last = 0;
  std::size_t size() const noexcept { return last - first; }
};

inline leaf_range leaves_of(std::size_t count, int rank, int size) noexcept {
  const auto r = static_cast<std::size_t>(rank), n = static_cast<std::size_t>(size);
  const std::size_t base = count / n, extra = count % n;
  const std::size_t first = r * base + (r < extra ? r : extra);
  return {first, first + base + (r < extra ? 1 : 0)};
}

// Allgathers the leaves each rank holds (rank order: rank 0's leaves come first) into one vector,
// the same on every rank. Collective over `comm`.
template <class T>
  requires(std::is_trivially_copyable_v<T>)
std::vector<T> allgather_leaves(MPI_Comm comm, std::span<const T> local) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  const long long mine = static_cast<long long>(local.size() * sizeof(T));
  std::vector<long long> bytes(static_cast<std::size_t>(size));
  MPI_Allgather(&mine, 1, MPI_LONG_LONG, bytes.data(), 1, MPI_LONG_LONG, comm);
  std::vector<int> counts(bytes.size()), displs(bytes.size());
  long long total = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (total + bytes[i] > INT32_MAX)
      throw std::length_error("weft::mpi::allgather_leaves: more than 2 GiB of leaves");
    counts[i] = static_cast<int>(bytes[i]);
    displs[i] = static_cast<int>(total);
    total += bytes[i];
  }
  std::vector<T> all(static_cast<std::size_t>(total) / sizeof(T));
  MPI_Allgatherv(local.data(), static_cast<int>(mine), MPI_BYTE, all.data(), counts.data(),
                 displs.data(), MPI_BYTE, comm);
  return all;
}

// Combines the leaves that the ranks of `comm` hold (contiguous runs, in rank order) in weft's
// reduction tree for that many chunks, and returns the result on every rank. `local` are this
// rank's leaves, each computed as the chunk function of the single-process parallel_reduce would
// compute that chunk; `combine(T, T) -> T` is that reduction's combine. Collective over `comm`.
template <class T, class Combine>
  requires(std::is_trivially_copyable_v<T>)
T deterministic_allreduce(thread_pool& pool, MPI_Comm comm, std::span<const T> local, T identity,
                          Combine combine) {
  const std::vector<T> all = allgather_leaves(comm, local);
  return parallel_reduce(
      pool, chunked(std::size_t{0}, all.size(), 1), std::move(identity),
      [&](chunk<std::size_t> c) { return all[c.first()]; }, combine);
}

}  // namespace weft::mpi
