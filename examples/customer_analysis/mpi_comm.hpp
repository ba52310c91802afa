// mpi_comm.hpp - the few MPI operations the distributed analysis needs, on top of <mpi.h>.
//
// What lives here:
//   * collectively(): runs one local step on every rank and turns an error on any rank into the
//     same exception on every rank, so that no rank is left waiting in a collective for a rank
//     that has given up.
//   * all_to_all(): MPI_Alltoallv of trivially copyable records, one vector per destination rank.
//   * gather_bytes(): MPI_Gatherv of byte strings to one rank.
//   * pack/unpack helpers for the two variable-length things sent: error lists and pain terms.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "aggregate.hpp"
#include "schema.hpp"
#include <mpi.h>

namespace customer_analysis::mpi {

struct world {
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0;
  int size = 1;
};

// Broadcasts a string from `root`.
inline std::string broadcast(const world& w, std::string s, int root) {
  unsigned long long n = s.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, w.comm);
  s.resize(static_cast<std::size_t>(n));
  if (n > 0) MPI_Bcast(s.data(), static_cast<int>(n), MPI_CHAR, root, w.comm);
  return s;
}

// An error that every rank has agreed on (see collectively()), other than a file_error.
struct agreed_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs step() on every rank, then agrees: if it threw on some ranks, every rank throws the error of
// the lowest of them - a file_error stays a file_error (same path, same reason), anything else
// becomes agreed_failure with the same message. Collective: every rank must call it, and step()
// itself must not use the communicator (a rank that fails inside it would leave the others
// waiting). A file problem met by one rank thus ends every rank, with one message and no hang.
template <class Step>
void collectively(const world& w, Step&& step) {
  int kind = 0;  // 0: fine, 1: other error, 2: file_error
  std::string path, message;
  try {
    step();
  } catch (const file_error& e) {
    kind = 2;
    path = e.path;
    message = e.what();
  } catch (const std::exception& e) {
    kind = 1;
    message = e.what();
  }
  const int mine = kind != 0 ? w.rank : w.size;
  int first = 0;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, w.comm);
  if (first == w.size) return;
  MPI_Bcast(&kind, 1, MPI_INT, first, w.comm);
  path = broadcast(w, path, first);
  message = broadcast(w, message, first);
  if (kind == 2) throw file_error(path, message);
  throw agreed_failure(message);
}

inline std::vector<int> int_counts(const std::vector<std::size_t>& bytes) {
  std::vector<int> out(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] > static_cast<std::size_t>(INT_MAX))
      throw std::length_error("more than 2 GiB for one MPI message");
    out[i] = static_cast<int>(bytes[i]);
  }
  return out;
}

inline std::vector<int> displacements(const std::vector<int>& counts) {
  std::vector<int> d(counts.size());
  long long at = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (at > INT_MAX) throw std::length_error("more than 2 GiB in one MPI exchange");
    d[i] = static_cast<int>(at);
    at += counts[i];
  }
  if (at > INT_MAX) throw std::length_error("more than 2 GiB in one MPI exchange");
  return d;
}

// MPI_Alltoallv: out[d] goes to rank d; returns what every rank sent here, rank 0's first.
template <class T>
  requires(std::is_trivially_copyable_v<T>)
std::vector<T> all_to_all(const world& w, const std::vector<std::vector<T>>& out) {
  const auto n = static_cast<std::size_t>(w.size);
  std::vector<std::size_t> send_bytes(n);
  std::size_t total = 0;
  for (std::size_t d = 0; d < n; ++d) total += (send_bytes[d] = out[d].size() * sizeof(T));
  std::vector<T> send;
  send.reserve(total / sizeof(T));
  for (const auto& v : out) send.insert(send.end(), v.begin(), v.end());
  const std::vector<int> scounts = int_counts(send_bytes);
  std::vector<int> rcounts(n);
  MPI_Alltoall(scounts.data(), 1, MPI_INT, rcounts.data(), 1, MPI_INT, w.comm);
  const std::vector<int> sdispls = displacements(scounts), rdispls = displacements(rcounts);
  const std::size_t recv_bytes =
      n == 0 ? 0
             : static_cast<std::size_t>(rdispls.back()) + static_cast<std::size_t>(rcounts.back());
  std::vector<T> in(recv_bytes / sizeof(T));
  MPI_Alltoallv(send.data(), scounts.data(), sdispls.data(), MPI_BYTE, in.data(), rcounts.data(),
                rdispls.data(), MPI_BYTE, w.comm);
  return in;
}

// MPI_Gatherv of byte strings: on `root`, one string per rank in rank order; elsewhere empty.
inline std::vector<std::string> gather_bytes(const world& w, const std::string& mine, int root) {
  const int n = static_cast<int>(int_counts({mine.size()})[0]);
  std::vector<int> counts(w.rank == root ? static_cast<std::size_t>(w.size) : 0);
  MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, root, w.comm);
  std::vector<int> displs;
  std::string all;
  if (w.rank == root) {
    displs = displacements(counts);
    all.resize(static_cast<std::size_t>(displs.back()) + static_cast<std::size_t>(counts.back()));
  }
  MPI_Gatherv(mine.data(), n, MPI_CHAR, all.data(), counts.data(), displs.data(), MPI_CHAR, root,
              w.comm);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < counts.size(); ++i)
    out.push_back(
        all.substr(static_cast<std::size_t>(displs[i]), static_cast<std::size_t>(counts[i])));
  return out;
}

// MPI_Gatherv of trivially copyable records: on `root`, every rank's records in rank order.
template <class T>
  requires(std::is_trivially_copyable_v<T>)
std::vector<T> gather(const world& w, const std::vector<T>& mine, int root) {
  std::string bytes(mine.size() * sizeof(T), '\0');
  if (!bytes.empty()) std::memcpy(bytes.data(), mine.data(), bytes.size());
  std::vector<T> out;
  for (const std::string& part : gather_bytes(w, bytes, root)) {
    const std::size_t at = out.size();
    out.resize(at + part.size() / sizeof(T));
    if (!part.empty()) std::memcpy(static_cast<void*>(out.data() + at), part.data(), part.size());
  }
  return out;
}

// Byte strings of (number, text) pairs: how error lists and pain terms travel.
inline void put(std::string& out, std::uint64_t number, std::string_view text) {
  const std::uint64_t len = text.size();
  out.append(reinterpret_cast<const char*>(&number), sizeof number);
  out.append(reinterpret_cast<const char*>(&len), sizeof len);
  out.append(text);
}

template <class F>
void for_each_pair(std::string_view in, F&& f) {
  while (in.size() >= 16) {
    std::uint64_t number = 0, len = 0;
    std::memcpy(&number, in.data(), 8);
    std::memcpy(&len, in.data() + 8, 8);
    f(number, in.substr(16, static_cast<std::size_t>(len)));
    in.remove_prefix(16 + static_cast<std::size_t>(len));
  }
}

// The first 100 errors of every rank, merged on `root` (the list keeps the first 100 by line).
inline error_list gather_errors(const world& w, const error_list& mine, int root) {
  std::string bytes;
  for (const error_entry& e : mine.entries()) put(bytes, e.line, e.message);
  error_list all;
  for (const std::string& part : gather_bytes(w, bytes, root))
    for_each_pair(part, [&](std::uint64_t line, std::string_view message) {
      all.add(line, std::string(message));
    });
  return all;
}

// Every rank's pain-term counts, summed on `root`.
inline term_counts gather_terms(const world& w, const term_counts& mine, int root) {
  std::string bytes;
  mine.for_each([&](std::string_view term, std::uint64_t count) { put(bytes, count, term); });
  term_counts all;
  for (const std::string& part : gather_bytes(w, bytes, root))
    for_each_pair(part, [&](std::uint64_t count, std::string_view term) { all.add(term, count); });
  return all;
}

}  // namespace customer_analysis::mpi
