// main.cpp - the command line of customer_analysis: `generate` and `analyze`.
//
// What lives here: option parsing (CLI11 for the syntax, our own checks for the numbers, since a
// number must be a plain positive decimal integer and CLI11 would accept "+4"), the exit statuses
// (0 success, 2 command-line or file-level error), and where the summary goes (stdout with --out,
// stderr without). The checks of numbers and the atomic writing of the report are in
// command_line.hpp, shared with the MPI version (mpi_main.cpp).
//
// The work itself is in analyze.hpp and generate.hpp; start reading there.
#include <weft/weft.hpp>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "analyze.hpp"
#include "command_line.hpp"
#include "generate.hpp"
#include "heap.hpp"
#include <fcntl.h>
#include <unistd.h>

namespace {

namespace ca = customer_analysis;
using ca::parse_number;
using ca::read_measuring_aids;
using ca::usage_error;
using ca::write_file_atomically;

constexpr const char* usage =
    "usage:\n"
    "  customer_analysis generate --interactions N --customers M [--seed S] [--corrupt FRACTION] "
    "--out DIR\n"
    "  customer_analysis analyze --interactions FILE [--customers FILE] [--threads N] "
    "[--chunk-bytes B]\n"
    "                            [--max-record-bytes B] [--out REPORT.json] [--quiet]\n";

double parse_fraction(const std::string& text, const char* option) {
  char* end = nullptr;
  errno = 0;
  const double v = text.empty() ? NAN : std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno != 0 || !(v >= 0.0 && v <= 1.0))
    throw usage_error(std::string(option) + " must be a number from 0 to 1, not \"" + text + "\"");
  return v;
}

int run(int argc, char** argv) {
  CLI::App app{
      "customer_analysis: pain points, channels and churn in customer-service interactions"};
  app.require_subcommand(1);

  // Numbers are taken as strings and checked by parse_number().
  std::string g_interactions, g_customers, g_seed = "1", g_corrupt = "0.0005", g_out;
  auto* gen = app.add_subcommand("generate", "write DIR/interactions.csv and DIR/customers.csv");
  gen->add_option("--interactions", g_interactions, "number of interactions")->required();
  gen->add_option("--customers", g_customers, "number of customers")->required();
  gen->add_option("--seed", g_seed, "random seed (default 1)");
  gen->add_option("--corrupt", g_corrupt, "fraction of malformed rows (default 0.0005)");
  gen->add_option("--out", g_out, "output directory")->required();

  std::string a_interactions, a_customers, a_threads, a_chunk, a_max, a_out;
  bool quiet = false;
  auto* an = app.add_subcommand("analyze", "analyse interactions.csv (and customers.csv)");
  an->add_option("--interactions", a_interactions, "interactions.csv")->required();
  auto* cust_opt = an->add_option("--customers", a_customers, "customers.csv");
  auto* threads_opt = an->add_option("--threads", a_threads, "worker threads");
  auto* chunk_opt = an->add_option("--chunk-bytes", a_chunk, "bytes per parallel chunk");
  auto* max_opt =
      an->add_option("--max-record-bytes", a_max, "longest valid record (default 1 MiB)");
  auto* out_opt = an->add_option("--out", a_out, "report file (default: stdout)");
  an->add_flag("--quiet", quiet, "no summary, no progress bar");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s\n%s", e.what(), usage);
    return 2;
  }

  try {
    if (gen->parsed()) {
      ca::generate_options o;
      o.interactions = parse_number(g_interactions, "--interactions", 1, UINT64_MAX);
      o.customers = parse_number(g_customers, "--customers", 1, UINT64_MAX);
      o.seed = parse_number(g_seed, "--seed", 0, UINT64_MAX);
      o.corrupt = parse_fraction(g_corrupt, "--corrupt");
      o.out_dir = g_out;
      if (o.out_dir.empty()) throw usage_error("--out must name a directory");
      ca::generate(weft::default_pool(), o);
      return 0;
    }

    ca::analyze_options o;
    o.interactions = a_interactions;
    if (cust_opt->count()) o.customers = a_customers;
    std::size_t threads = weft::default_thread_count();
    if (threads_opt->count()) threads = parse_number(a_threads, "--threads", 1, 1024);
    if (chunk_opt->count())
      o.chunk_bytes = parse_number(a_chunk, "--chunk-bytes", 1, SIZE_MAX / 64);
    if (max_opt->count())
      o.max_record_bytes = parse_number(a_max, "--max-record-bytes", 1, SIZE_MAX / 4);
    o.progress = !quiet && ::isatty(STDERR_FILENO);
    read_measuring_aids(o);

    weft::thread_pool pool{threads};
    // weft::install runs the analysis as part of the pool. It is a driver: a few hundred
    // parallel calls with sequential work between them. Installed, they are one call from
    // outside: this thread holds a caller slot (and the pool sets one worker aside) once, and
    // starts every parallel call itself. Exceptions come back out of install.
    const ca::json report = weft::install(pool, [&] { return ca::analyze(pool, o); });
    const std::string text = ca::report_text(report);
    if (out_opt->count()) {
      write_file_atomically(a_out, text);
      if (!quiet) ca::print_summary(stdout, report);
    } else {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      if (!quiet) ca::print_summary(stderr, report);
    }
    return 0;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "error: %s\n%s", e.what(), usage);
    return 2;
  } catch (const ca::file_error& e) {
    std::fprintf(stderr, "error: %s: %s\n", e.path.c_str(), e.what());
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  ca::prepare_heap();
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
