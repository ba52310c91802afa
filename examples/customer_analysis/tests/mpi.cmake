# mpi.cmake - `mpirun -np 1/2/3 customer_analysis_mpi analyze` gives the single-process report, byte
# for byte: on generated data (with and without customers.csv, with tiny chunks so that records
# straddle chunks, windows and ranks; 3000 customers, so that the churn gradient has chunks on
# several ranks) and on the hand-made files of tests/data.
# Run as: cmake -DBIN=<customer_analysis> -DMPI_BIN=<customer_analysis_mpi> -DMPIEXEC=<mpiexec>
#               -DMPIEXEC_NP=<-n> [-DMPI_FLAGS=<a|b|...>] -DDATA=<tests/data> -DWORK=<dir> -P mpi.cmake
if(NOT BIN OR NOT MPI_BIN OR NOT MPIEXEC OR NOT DATA OR NOT WORK)
  message(FATAL_ERROR "usage: cmake -DBIN=... -DMPI_BIN=... -DMPIEXEC=... -DDATA=... -DWORK=... -P mpi.cmake")
endif()
if(NOT MPIEXEC_NP)
  set(MPIEXEC_NP -n)
endif()
string(REPLACE "|" ";" MPI_FLAGS "${MPI_FLAGS}")
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

# Runs a command (60 s at most); sets `rc`, `out` and `err` in the caller.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE o ERROR_VARIABLE e
                  TIMEOUT 60)
  set(rc "${code}" PARENT_SCOPE)
  set(out "${o}" PARENT_SCOPE)
  set(err "${e}" PARENT_SCOPE)
endfunction()

function(expect_same a b what)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${a}" "${b}" RESULT_VARIABLE same)
  if(NOT same EQUAL 0)
    message(FATAL_ERROR "${what}: ${b} differs from the single-process ${a}")
  endif()
endfunction()

run(${BIN} generate --interactions 8000 --customers 3000 --seed 5 --corrupt 0.005 --out "${WORK}/data")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "generate failed (${rc}): ${err}")
endif()
set(inter "${WORK}/data/interactions.csv")
set(cust "${WORK}/data/customers.csv")

# Generated data: three cases, each against its single-process report.
set(cases with_customers without_customers tiny_chunks)
set(args_with_customers --interactions "${inter}" --customers "${cust}")
set(args_without_customers --interactions "${inter}")
set(args_tiny_chunks --interactions "${inter}" --customers "${cust}" --chunk-bytes 7)
set(checked 0)
foreach(case IN LISTS cases)
  set(expected "${WORK}/${case}.json")
  run(${BIN} analyze ${args_${case}} --out "${expected}" --quiet)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "single-process analyze failed (${rc}): ${err}")
  endif()
  foreach(np 1 2 3)
    set(report "${WORK}/${case}-np${np}.json")
    run(${MPIEXEC} ${MPIEXEC_NP} ${np} ${MPI_FLAGS} ${MPI_BIN} analyze ${args_${case}}
        --threads 2 --out "${report}" --quiet)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "mpi analyze -np ${np} (${case}) failed (${rc}): ${err}")
    endif()
    expect_same("${expected}" "${report}" "${case}, -np ${np}")
    math(EXPR checked "${checked} + 1")
  endforeach()
endforeach()

# Without --out: the JSON alone on stdout, as in the single-process program.
run(${MPIEXEC} ${MPIEXEC_NP} 2 ${MPI_FLAGS} ${MPI_BIN} analyze --interactions "${inter}" --quiet)
file(READ "${WORK}/without_customers.json" expected_text)
if(NOT rc EQUAL 0 OR NOT out STREQUAL expected_text)
  message(FATAL_ERROR "mpi analyze without --out: exit ${rc}, stdout is not the report\n${err}")
endif()

# The hand-made files: more ranks than records, records longer than a rank's share, errors, and
# duplicate customer_ids whose first valid row is on another rank.
foreach(dir mixed long_records duplicate_ids)
  set(args --interactions "${DATA}/${dir}/interactions.csv")
  if(EXISTS "${DATA}/${dir}/customers.csv")
    list(APPEND args --customers "${DATA}/${dir}/customers.csv")
  endif()
  run(${BIN} analyze ${args} --chunk-bytes 3 --quiet)
  set(sp_rc "${rc}")
  set(sp_out "${out}")
  run(${MPIEXEC} ${MPIEXEC_NP} 3 ${MPI_FLAGS} ${MPI_BIN} analyze ${args} --chunk-bytes 3 --threads 1
      --quiet)
  if(NOT rc EQUAL sp_rc OR NOT out STREQUAL sp_out)
    message(FATAL_ERROR "${dir}, -np 3: exit ${rc} (single process: ${sp_rc}) or report differs\n${err}")
  endif()
  math(EXPR checked "${checked} + 1")
endforeach()
message(STATUS "${checked} MPI reports equal to the single-process ones")
