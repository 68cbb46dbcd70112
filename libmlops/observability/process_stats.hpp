// observability: the process_* basics Prometheus clients export, read from /proc.
#pragma once
#include <cstdint>

namespace mlops::observability {

struct ProcessStats {
  double cpu_seconds = 0;          // user + system
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double open_fds = 0;
  double start_time_seconds = 0;   // since the Unix epoch
  double threads = 0;
};

ProcessStats read_process_stats();  // zeros where /proc cannot be read

}  // namespace mlops::observability
