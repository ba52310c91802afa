# determinism.cmake - `generate` then `analyze` with several --threads and --chunk-bytes: every
# report must be byte-identical, and generating twice must give identical files.
# Run as: cmake -DBIN=<customer_analysis> -DWORK=<scratch dir> -P determinism.cmake
if(NOT BIN OR NOT WORK)
  message(FATAL_ERROR "usage: cmake -DBIN=<customer_analysis> -DWORK=<dir> -P determinism.cmake")
endif()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${err}")
  endif()
endfunction()

foreach(dir a b)
  run(${BIN} generate --interactions 6000 --customers 800 --seed 11 --corrupt 0.005
      --out "${WORK}/${dir}")
endforeach()
foreach(file interactions.csv customers.csv)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${WORK}/a/${file}" "${WORK}/b/${file}"
                  RESULT_VARIABLE same)
  if(NOT same EQUAL 0)
    message(FATAL_ERROR "generate is not deterministic: ${file} differs")
  endif()
endforeach()

set(first "")
foreach(threads 1 2 4)
  # "default" reads the windows into buffers, "map" maps the same windows (they are large
  # enough), the small chunks make small windows, which are always read.
  foreach(chunk 1 7 64 4096 default map)
    set(report "${WORK}/report-${threads}-${chunk}.json")
    set(chunk_args "")
    set(environment "")
    if(chunk STREQUAL "map")
      set(environment CUSTOMER_ANALYSIS_MAP=1)
    elseif(NOT chunk STREQUAL "default")
      set(chunk_args --chunk-bytes ${chunk})
    endif()
    run(${CMAKE_COMMAND} -E env ${environment} ${BIN} analyze
        --interactions "${WORK}/a/interactions.csv"
        --customers "${WORK}/a/customers.csv" --threads ${threads} ${chunk_args}
        --out "${report}" --quiet)
    if(first STREQUAL "")
      set(first "${report}")
    else()
      execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${first}" "${report}"
                      RESULT_VARIABLE same)
      if(NOT same EQUAL 0)
        message(FATAL_ERROR "reports differ: ${first} and ${report}")
      endif()
    endif()
  endforeach()
endforeach()
message(STATUS "18 reports byte-identical")
