# mpi_failure.cmake - under MPI, a file-level error met by one rank or by all of them ends every rank
# promptly with exit status 2, one `error: <file>: <reason>` line, and no report written.
# Run as: cmake -DMPI_BIN=<customer_analysis_mpi> -DMPIEXEC=<mpiexec> -DMPIEXEC_NP=<-n>
#               [-DMPI_FLAGS=<a|b|...>] -DDATA=<tests/data> -DWORK=<dir> -P mpi_failure.cmake
if(NOT MPI_BIN OR NOT MPIEXEC OR NOT DATA OR NOT WORK)
  message(FATAL_ERROR "usage: cmake -DMPI_BIN=... -DMPIEXEC=... -DDATA=... -DWORK=... -P mpi_failure.cmake")
endif()
if(NOT MPIEXEC_NP)
  set(MPIEXEC_NP -n)
endif()
string(REPLACE "|" ";" MPI_FLAGS "${MPI_FLAGS}")
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(good "${DATA}/mixed/interactions.csv")
set(report "${WORK}/report.json")

# Runs mpi analyze on 3 ranks and expects exit 2 within 60 s, with exactly one `error:` line that
# matches `pattern`, and the existing report untouched.
function(expect_failure pattern)
  file(WRITE "${report}" "old\n")
  execute_process(COMMAND ${MPIEXEC} ${MPIEXEC_NP} 3 ${MPI_FLAGS} ${MPI_BIN} analyze ${ARGN}
                          --threads 1 --out "${report}"
                  RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET TIMEOUT 60)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "expected exit 2, got '${rc}' (a timeout means a hang): ${ARGN}\n${err}")
  endif()
  string(REGEX MATCHALL "(^|\n)error: [^\n]*" lines "${err}")
  list(LENGTH lines count)
  if(NOT count EQUAL 1 OR NOT err MATCHES "(^|\n)error: ${pattern}")
    message(FATAL_ERROR "expected one line 'error: ${pattern}', got:\n${err}")
  endif()
  file(READ "${report}" kept)
  if(NOT kept STREQUAL "old\n")
    message(FATAL_ERROR "a failed run changed the existing report: ${ARGN}")
  endif()
endfunction()

# Every rank fails: a missing file, an empty file, a missing customers.csv.
expect_failure("${WORK}/missing.csv: " --interactions "${WORK}/missing.csv")
file(WRITE "${WORK}/empty.csv" "")
expect_failure("${WORK}/empty.csv: empty file" --interactions "${WORK}/empty.csv")
expect_failure("${WORK}/missing.csv: " --interactions "${good}" --customers "${WORK}/missing.csv")

# One rank alone cannot read its share (as if the file were unreadable on its node): all end.
foreach(rank 0 1 2)
  set(ENV{CUSTOMER_ANALYSIS_MPI_FAIL_RANK} ${rank})
  expect_failure("${good}: Input/output error" --interactions "${good}")
endforeach()
unset(ENV{CUSTOMER_ANALYSIS_MPI_FAIL_RANK})
message(STATUS "MPI failure checks passed")
