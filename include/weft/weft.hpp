// weft/weft.hpp
//
// The umbrella header: everything weft offers, in namespace weft.
#pragma once

#include "chunked_range.hpp"
#include "controls.hpp"
#include "install.hpp"
#include "isolate.hpp"
#include "join.hpp"
#include "parallel_for.hpp"
#include "parallel_map.hpp"
#include "parallel_reduce.hpp"
#include "parallel_scan.hpp"
#include "task_group.hpp"
#include "thread_pool.hpp"
