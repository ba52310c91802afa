// mpi_main.cpp - customer_analysis_mpi: the `analyze` command over many processes.
//
//   mpirun -np 4 customer_analysis_mpi analyze --interactions FILE [--customers FILE] [--threads N]
//          [--chunk-bytes B] [--max-record-bytes B] [--out REPORT.json] [--quiet]
//
// The same options, the same report (byte for byte) and the same exit statuses as
// `customer_analysis analyze`, whatever the number of ranks. Each rank runs a weft pool of
// --threads workers (default: all the cores it sees - with several ranks on one machine, give each
// its share). Rank 0 writes the report and the summary; there is no progress bar. A command-line
// or file-level error met by any rank ends every rank with exit status 2 and one `error:` line.
//
// The work is in mpi_analyze.hpp; generate test data with the single-process program.
#include <weft/weft.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "command_line.hpp"
#include "heap.hpp"
#include "mpi_analyze.hpp"
#include "report.hpp"
#include <mpi.h>

namespace {

namespace ca = customer_analysis;

constexpr const char* usage =
    "usage:\n"
    "  mpirun -np N customer_analysis_mpi analyze --interactions FILE [--customers FILE] "
    "[--threads N]\n"
    "                 [--chunk-bytes B] [--max-record-bytes B] [--out REPORT.json] [--quiet]\n";

int run(const ca::mpi::world& w, int argc, char** argv) {
  // Only rank 0 speaks; every rank parses the same arguments and reaches the same verdict.
  auto say = [&](const std::string& text) {
    if (w.rank == 0) std::fputs(text.c_str(), stderr);
  };
  CLI::App app{"customer_analysis_mpi: the analysis of customer_analysis over MPI ranks"};
  app.require_subcommand(1);
  std::string interactions, customers, threads_text, chunk, max_record, out;
  bool quiet = false;
  auto* an = app.add_subcommand("analyze", "analyse interactions.csv (and customers.csv)");
  an->add_option("--interactions", interactions, "interactions.csv")->required();
  auto* cust_opt = an->add_option("--customers", customers, "customers.csv");
  auto* threads_opt = an->add_option("--threads", threads_text, "worker threads per rank");
  auto* chunk_opt = an->add_option("--chunk-bytes", chunk, "bytes per parallel chunk");
  auto* max_opt =
      an->add_option("--max-record-bytes", max_record, "longest valid record (default 1 MiB)");
  auto* out_opt = an->add_option("--out", out, "report file (default: stdout)");
  an->add_flag("--quiet", quiet, "no summary");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    if (w.rank == 0) std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    if (w.rank == 0) std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    say("error: " + std::string(e.what()) + "\n" + usage);
    return 2;
  }

  try {
    ca::analyze_options o;
    o.interactions = interactions;
    if (cust_opt->count()) o.customers = customers;
    std::size_t threads = weft::default_thread_count();
    if (threads_opt->count()) threads = ca::parse_number(threads_text, "--threads", 1, 1024);
    if (chunk_opt->count())
      o.chunk_bytes = ca::parse_number(chunk, "--chunk-bytes", 1, SIZE_MAX / 64);
    if (max_opt->count())
      o.max_record_bytes = ca::parse_number(max_record, "--max-record-bytes", 1, SIZE_MAX / 4);
    o.progress = false;
    ca::read_measuring_aids(o);
    // Testing aid: CUSTOMER_ANALYSIS_MPI_FAIL_RANK=r makes rank r fail to read interactions.csv, as
    // if the file were unreadable on its node only.
    int fail_rank = -1;
    if (const char* f = std::getenv("CUSTOMER_ANALYSIS_MPI_FAIL_RANK")) fail_rank = std::atoi(f);

    weft::thread_pool pool{threads};
    const ca::json report = ca::mpi::analyze(w, pool, o, fail_rank);
    // Rank 0 writes; the others learn whether it could.
    ca::mpi::collectively(w, [&] {
      if (w.rank != 0) return;
      const std::string text = ca::report_text(report);
      if (out_opt->count()) {
        ca::write_file_atomically(out, text);
        if (!quiet) ca::print_summary(stdout, report);
      } else {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        if (!quiet) ca::print_summary(stderr, report);
      }
    });
    return 0;
  } catch (const ca::usage_error& e) {
    say("error: " + std::string(e.what()) + "\n" + usage);
    return 2;
  } catch (const ca::file_error& e) {
    say("error: " + e.path + ": " + e.what() + "\n");
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  ca::prepare_heap();
  int provided = 0;
  // Only the main thread calls MPI; weft's workers never do.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  ca::mpi::world w;
  MPI_Comm_rank(w.comm, &w.rank);
  MPI_Comm_size(w.comm, &w.size);
  int status = 1;
  try {
    status = run(w, argc, argv);
  } catch (const ca::mpi::agreed_failure& e) {
    // An error that every rank met together (collectively()): end cleanly.
    if (w.rank == 0) std::fprintf(stderr, "error: %s\n", e.what());
    status = 1;
  } catch (const std::exception& e) {
    // Anything else happened on this rank alone: the others may be waiting for it in a
    // collective, so the whole job is ended.
    std::fprintf(stderr, "error: rank %d: %s\n", w.rank, e.what());
    MPI_Abort(w.comm, 1);
  }
  MPI_Finalize();
  return status;
}
