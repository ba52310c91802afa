// mpi_analyze.hpp - the `analyze` command over many processes: MPI between them, a weft pool in
// each.
//
// The report is the single-process one, byte for byte, for any number of ranks. How:
//
//   1. Byte ranges. Every rank reads both headers itself, then takes a contiguous, equal share of
//      the data bytes. A first pass counts its quotes and LFs; MPI_Exscan gives each rank the
//      quote parity and the line count at its start, so each finds the first record that starts in
//      its share, exactly by the single-process rule (an LF with an even quote count before it).
//      An MPI_Allgather of those starts gives every rank its records: from its first start to the
//      next rank's, so the record that straddles a boundary is parsed by the rank where it starts
//      (reading past its share). Each rank streams its records through the same record_splitter as
//      the single-process program, with the same line numbers.
//   2. Integers. Row counts and the topic x channel sums are summed with MPI_Reduce; errors (first
//      100 per rank) and pain-term counts are gathered and merged on rank 0. All of it is integer
//      arithmetic, so the order does not matter.
//   3. Customers. Each customer is owned by one rank: ids are cut into contiguous ranges at
//      splitters drawn from a sample of every rank's ids. Per-customer state and customers.csv rows
//      go to their owner with MPI_Alltoallv; the owner merges them (integer sums, the latest
//      timestamp, the first valid customers.csv row in file order - ranks are in file order).
//      A row with a valid customer_id and a later broken column is invalid either way, but its
//      message names customer_id if a valid row of that id comes before it: such rows go to the
//      owner too, and its verdict comes back to the rank that reports the row.
//   4. Churn (mpi_churn.hpp): the population sorted by id is spread over the ranks in id order, so
//      every sum of the model can be made in the single-process order.
//
// Every local step is wrapped in collectively(): an error on one rank (say, a file it cannot read)
// becomes the same error on every rank, and they all exit with status 2 instead of waiting forever.
#pragma once

#include <weft/weft.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "aggregate.hpp"
#include "analyze.hpp"
#include "churn.hpp"
#include "csv.hpp"
#include "mpi_churn.hpp"
#include "mpi_comm.hpp"
#include "reader.hpp"
#include "records.hpp"
#include "report.hpp"
#include "schema.hpp"
#include <mpi.h>

namespace customer_analysis::mpi {

// customers.csv rows as customer_handler reads them, but the locally first valid row of each
// customer_id keeps its line number: which of two ranks' rows wins is decided by its owner.
// Likewise a candidate (a valid customer_id, a later column broken) with no earlier valid row of
// its id on this rank is kept: whether a lower rank has one is also decided by the owner.
class customer_rows_handler {
 public:
  using partial = customer_handler::partial;
  using row = customer_handler::row;
  using candidate = customer_handler::candidate;

  customer_rows_handler(std::vector<std::uint8_t> roles, std::size_t max_record_bytes)
      : inner_(std::move(roles), max_record_bytes) {}
  partial identity() const { return inner_.identity(); }
  void add(partial& out, const record_ref& r) const { inner_.add(out, r); }
  partial combine(partial a, partial b) const { return inner_.combine(std::move(a), std::move(b)); }
  void absorb(partial&& p) {
    read += p.read;
    invalid += p.invalid;  // the candidates included
    errors.merge(std::move(p.errors));
    customer_handler::in_file_order(
        p,
        [&](const row& x) {
          if (first_rows.emplace(x.customer_id, x).second) return;
          ++invalid;
          if (errors.wants(x.line)) errors.add(x.line, duplicate_customer_message(x.customer_id));
        },
        [&](candidate& c) {
          if (!first_rows.count(c.customer_id)) {
            pending.push_back(std::move(c));
          } else if (errors.wants(c.line)) {
            errors.add(c.line, duplicate_customer_message(c.customer_id));
          }
        });
    trim_pending();
  }

  // Drops the pending candidates that cannot be among the first 100 errors: those with 100 known
  // errors (listed ones or earlier candidates, all invalid whatever their message) before them.
  void trim_pending() {
    const auto& listed = errors.entries();
    std::size_t before = 0, kept = 0;
    for (candidate& c : pending) {
      while (before < listed.size() && listed[before].line < c.line) ++before;
      if (before + kept >= error_list::keep) break;
      if (&pending[kept] != &c) pending[kept] = std::move(c);
      ++kept;
    }
    pending.resize(kept);
  }

  std::uint64_t read = 0, invalid = 0;
  error_list errors;
  std::unordered_map<std::uint64_t, row> first_rows;  // valid so far on this rank
  std::vector<candidate> pending;                     // in file order; already counted as invalid

 private:
  customer_handler inner_;
};

// One rank's share of a file's data: the records that start in [begin, end).
struct share {
  std::uint64_t begin = 0, end = 0;  // bytes
  std::uint64_t lfs_before = 0;      // LFs in the file before `begin`
};

// Finds this rank's records of `f` (see step 1 above). Collective.
inline share find_share(const world& w, weft::thread_pool& pool, const checked_file& f,
                        bool fail_here) {
  const std::uint64_t data = f.header.data_offset;
  const std::uint64_t size = std::max(f.file->size(), data);
  const std::uint64_t len = size - data;
  const auto r = static_cast<std::uint64_t>(w.rank), n = static_cast<std::uint64_t>(w.size);
  const std::uint64_t lo = data + r * (len / n) + std::min(r, len % n);
  const std::uint64_t hi = lo + len / n + (r < len % n ? 1 : 0);

  // Quotes and LFs of [lo, hi).
  byte_counts mine;
  collectively(w, [&] {
    if (fail_here) throw file_error(f.file->path(), std::strerror(EIO));
    for_each_window(
        *f.file, lo, std::size_t{8} << 20, true,
        [&](const char* d, std::size_t k) {
          mine =
              mine +
              weft::parallel_reduce(
                  pool, weft::chunked(std::size_t{0}, k, std::size_t{1} << 20), byte_counts{},
                  [&](weft::chunk<std::size_t> c) { return count_bytes(d + c.first(), c.size()); },
                  [](byte_counts a, byte_counts b) { return a + b; });
        },
        hi);
  });
  std::uint64_t counts[2] = {mine.quotes, mine.lfs}, before[2] = {0, 0};
  MPI_Exscan(counts, before, 2, MPI_UINT64_T, MPI_SUM, w.comm);
  if (w.rank == 0) before[0] = before[1] = 0;  // MPI_Exscan leaves rank 0's result undefined

  // The first record start in [lo, hi): `data`, or a byte after an LF with an even quote count
  // before it.
  struct start {
    std::uint64_t found, at, lfs_before;
  } first{0, 0, 0};
  collectively(w, [&] {
    bool parity = (before[0] & 1) != 0;
    std::uint64_t lfs = f.header.lfs_before_data + before[1];
    if (lo >= hi) return;
    char prev = 0;
    if (lo > data && f.file->read_at(lo - 1, &prev, 1) != 1)
      throw file_error(f.file->path(), "file changed while being read");
    if (lo == data || (prev == '\n' && !parity)) {
      first = {1, lo, lfs};
      return;
    }
    std::vector<char> buf(std::size_t{1} << 16);
    for (std::uint64_t at = lo; at < hi;) {
      const std::size_t k = f.file->read_at(
          at, buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), hi - at)));
      if (k == 0) throw file_error(f.file->path(), "file changed while being read");
      for (std::size_t i = 0; i < k; ++i) {
        if (buf[i] == '"') {
          parity = !parity;
        } else if (buf[i] == '\n') {
          ++lfs;
          if (!parity) {
            if (at + i + 1 < hi) first = {1, at + i + 1, lfs};
            return;
          }
        }
      }
      at += k;
    }
  });
  std::vector<start> starts(static_cast<std::size_t>(w.size));
  MPI_Allgather(&first, 3, MPI_UINT64_T, starts.data(), 3, MPI_UINT64_T, w.comm);

  share s;
  if (!first.found) return {size, size, 0};  // no record starts here
  s.begin = first.at;
  s.lfs_before = first.lfs_before;
  s.end = size;
  for (std::size_t t = r + 1; t < starts.size(); ++t)
    if (starts[t].found) {
      s.end = starts[t].at;
      break;
    }
  return s;
}

// Streams the records of one share through `handler` (no progress bar under MPI).
template <class Handler>
void stream_share(weft::thread_pool& pool, const checked_file& f, const share& s, Handler& handler,
                  const analyze_options& o) {
  const std::size_t chunk = chunk_bytes_for(o, s.end - s.begin, pool.size());
  record_splitter<Handler> splitter(pool, handler, chunk, o.max_record_bytes, s.lfs_before);
  const std::size_t window = static_cast<std::size_t>(std::min<std::uint64_t>(
      window_bytes(chunk, pool.size()), std::max<std::uint64_t>(s.end - s.begin, 4096)));
  for_each_window(
      *f.file, s.begin, window, o.read_ahead,
      [&](const char* d, std::size_t n) { splitter.feed(d, n); }, s.end, o.map);
  splitter.finish();
}

// What travels to a customer's owner.
struct customer_record {
  std::uint64_t id;
  customer_state state;
};
using customer_row = customer_handler::row;
// A pending candidate sent to its customer's owner, and the owner's verdict sent back.
struct candidate_query {
  std::uint64_t id, line, from, index;  // from: the sender's rank; index: in its `pending`
};
struct candidate_verdict {
  std::uint64_t index, duplicate;  // duplicate: a valid row of the id comes before it
};

// Splitters that cut the customer ids into `size` contiguous ranges of about equal population:
// quantiles of a sample of every rank's ids. Rank r owns [splitters[r-1], splitters[r]).
inline std::vector<std::uint64_t> choose_splitters(const world& w, std::vector<std::uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  constexpr std::size_t per_rank = 64;
  std::vector<std::uint64_t> sample;
  const std::size_t k = std::min(per_rank, ids.size());
  for (std::size_t i = 0; i < k; ++i) sample.push_back(ids[(2 * i + 1) * ids.size() / (2 * k)]);
  std::vector<std::uint64_t> all;
  // Every rank needs the splitters: gather on rank 0, then broadcast.
  all = gather(w, sample, 0);
  unsigned long long m = all.size();
  MPI_Bcast(&m, 1, MPI_UNSIGNED_LONG_LONG, 0, w.comm);
  all.resize(static_cast<std::size_t>(m));
  if (m > 0) MPI_Bcast(all.data(), static_cast<int>(m), MPI_UINT64_T, 0, w.comm);
  std::sort(all.begin(), all.end());
  std::vector<std::uint64_t> splitters;
  const auto n = static_cast<std::size_t>(w.size);
  for (std::size_t r = 1; r < n; ++r)
    splitters.push_back(all.empty() ? std::numeric_limits<std::uint64_t>::max()
                                    : all[r * all.size() / n]);
  return splitters;
}

inline std::size_t owner(const std::vector<std::uint64_t>& splitters, std::uint64_t id) {
  return static_cast<std::size_t>(std::upper_bound(splitters.begin(), splitters.end(), id) -
                                  splitters.begin());
}

// Runs the whole analysis; the report on rank 0, null elsewhere. Throws file_error on every rank
// for a file-level error met by any rank. `fail_rank`: a rank that pretends it cannot read
// interactions.csv (a testing aid), or -1.
inline json analyze(const world& w, weft::thread_pool& pool, const analyze_options& o,
                    int fail_rank = -1) {
  // Both headers first, interactions.csv first: every rank opens and checks them itself.
  checked_file inter;
  collectively(
      w, [&] { inter = open_checked(o.interactions, o.max_record_bytes, interaction_columns); });
  std::optional<checked_file> cust;
  collectively(w, [&] {
    if (o.customers) cust = open_checked(*o.customers, o.max_record_bytes, customer_columns);
  });

  // 1. Each rank's records, read with its own pool.
  const share inter_share = find_share(w, pool, inter, w.rank == fail_rank);
  std::optional<share> cust_share;
  if (cust) cust_share = find_share(w, pool, *cust, false);
  interaction_handler ih(pool, inter.roles, o.max_record_bytes);
  std::optional<customer_rows_handler> ch;
  collectively(w, [&] {
    stream_share(pool, inter, inter_share, ih, o);
    if (cust) {
      ch.emplace(cust->roles, o.max_record_bytes);
      stream_share(pool, *cust, *cust_share, *ch, o);
    }
  });
  inter.file.reset();
  if (cust) cust->file.reset();

  // 2. The integer sums, errors and pain terms, on rank 0.
  interaction_totals& local = ih.totals();
  std::vector<std::uint64_t> sums{local.read, local.valid, local.invalid};
  for (const cell& c : local.cells)
    sums.insert(sums.end(), {c.interactions, c.resolved, c.wait, c.handle, c.csat_responses,
                             c.csat_sum, c.pain});
  std::vector<std::uint64_t> total_sums(sums.size());
  MPI_Reduce(sums.data(), total_sums.data(), static_cast<int>(sums.size()), MPI_UINT64_T, MPI_SUM,
             0, w.comm);
  std::int64_t latest = local.any_valid ? local.latest : std::numeric_limits<std::int64_t>::min();
  MPI_Allreduce(MPI_IN_PLACE, &latest, 1, MPI_INT64_T, MPI_MAX, w.comm);
  const bool any_valid = latest != std::numeric_limits<std::int64_t>::min();
  interaction_totals totals;
  totals.errors = gather_errors(w, local.errors, 0);
  totals.terms = gather_terms(w, local.terms, 0);
  if (w.rank == 0) {
    totals.read = total_sums[0];
    totals.valid = total_sums[1];
    totals.invalid = total_sums[2];
    for (std::size_t i = 0; i < totals.cells.size(); ++i) {
      const std::uint64_t* v = &total_sums[3 + 7 * i];
      totals.cells[i] = cell{v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
    }
    totals.any_valid = any_valid;
    totals.latest = any_valid ? latest : 0;
  }

  // 3. Customers to their owners.
  std::vector<std::uint64_t> ids;
  for (const auto& shard : ih.shards())
    shard.for_each([&](std::uint64_t id, const customer_state&) { ids.push_back(id); });
  if (ch)
    for (const auto& [id, row] : ch->first_rows) ids.push_back(id);
  const std::vector<std::uint64_t> splitters = choose_splitters(w, std::move(ids));

  std::vector<std::vector<customer_record>> state_out(static_cast<std::size_t>(w.size));
  for (const auto& shard : ih.shards())
    shard.for_each([&](std::uint64_t id, const customer_state& s) {
      state_out[owner(splitters, id)].push_back({id, s});
    });
  std::vector<customer_record> states = all_to_all(w, state_out);
  state_out = {};
  // Merge the states of each customer (integer sums and the latest timestamp): sorted by id.
  std::sort(states.begin(), states.end(),
            [](const customer_record& a, const customer_record& b) { return a.id < b.id; });
  std::vector<customer_record> merged;
  for (const customer_record& c : states) {
    if (merged.empty() || merged.back().id != c.id) {
      merged.push_back(c);
      continue;
    }
    customer_state& s = merged.back().state;
    if (c.state.latest > s.latest) s.latest = c.state.latest;
    s.interactions += c.state.interactions;
    s.pain += c.state.pain;
    s.unresolved += c.state.unresolved;
    s.csat_sum += c.state.csat_sum;
    s.csat_responses += c.state.csat_responses;
    s.wait_sum += c.state.wait_sum;
  }
  states = {};
  std::uint64_t distinct = merged.size();
  MPI_Allreduce(MPI_IN_PLACE, &distinct, 1, MPI_UINT64_T, MPI_SUM, w.comm);

  std::optional<customer_totals> ctotals;
  std::optional<churn_result> churn;
  if (ch) {
    std::vector<std::vector<customer_row>> rows_out(static_cast<std::size_t>(w.size));
    for (const auto& [id, row] : ch->first_rows) rows_out[owner(splitters, id)].push_back(row);
    ch->first_rows.clear();
    std::vector<customer_row> rows = all_to_all(w, rows_out);
    rows_out = {};
    // Ranks hold the file in order, so of equal ids the row from the lowest rank (received
    // first) is the first in the file; the others are duplicates.
    std::stable_sort(rows.begin(), rows.end(), [](const customer_row& a, const customer_row& b) {
      return a.customer_id < b.customer_id;
    });
    std::vector<customer_row> population;
    for (const customer_row& x : rows) {
      if (population.empty() || population.back().customer_id != x.customer_id) {
        population.push_back(x);
        continue;
      }
      ++ch->invalid;
      if (ch->errors.wants(x.line))
        ch->errors.add(x.line, duplicate_customer_message(x.customer_id));
    }
    rows = {};
    // Pending candidates: a duplicate iff the first valid row of its id (the population's row)
    // comes before it. The verdicts go back to the rank that holds the candidate.
    std::vector<std::vector<candidate_query>> queries_out(static_cast<std::size_t>(w.size));
    for (std::size_t i = 0; i < ch->pending.size(); ++i) {
      const customer_handler::candidate& c = ch->pending[i];
      queries_out[owner(splitters, c.customer_id)].push_back(
          {c.customer_id, c.line, static_cast<std::uint64_t>(w.rank), i});
    }
    const std::vector<candidate_query> queries = all_to_all(w, queries_out);
    queries_out = {};
    std::vector<std::vector<candidate_verdict>> verdicts_out(static_cast<std::size_t>(w.size));
    for (const candidate_query& q : queries) {
      const auto it = std::lower_bound(
          population.begin(), population.end(), q.id,
          [](const customer_row& x, std::uint64_t id) { return x.customer_id < id; });
      const bool duplicate = it != population.end() && it->customer_id == q.id && it->line < q.line;
      verdicts_out[static_cast<std::size_t>(q.from)].push_back({q.index, duplicate ? 1u : 0u});
    }
    for (const candidate_verdict& v : all_to_all(w, verdicts_out)) {
      customer_handler::candidate& c = ch->pending[static_cast<std::size_t>(v.index)];
      if (!ch->errors.wants(c.line)) continue;
      ch->errors.add(
          c.line, v.duplicate ? duplicate_customer_message(c.customer_id) : std::move(c.message));
    }
    ch->pending.clear();
    std::uint64_t counts[3] = {ch->read, population.size(), ch->invalid};
    MPI_Allreduce(MPI_IN_PLACE, counts, 3, MPI_UINT64_T, MPI_SUM, w.comm);
    ctotals.emplace();
    ctotals->read = counts[0];
    ctotals->valid = counts[1];
    ctotals->invalid = counts[2];
    ctotals->errors = gather_errors(w, ch->errors, 0);

    // 4. The churn model over the population, now spread over the ranks in id order.
    churn = mpi::run_churn(w, pool, population, merged, any_valid, latest);
  }

  if (w.rank != 0) return nullptr;
  return build_report(totals, distinct, ctotals ? &*ctotals : nullptr, churn ? &*churn : nullptr);
}

}  // namespace customer_analysis::mpi
