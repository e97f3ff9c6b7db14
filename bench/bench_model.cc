// bench_model.cc: model-level benchmarks (forward, one training step, naive
// sampling). MODEL BENCHMARKS GO HERE once model/model.c is in the library.
#include "bench_util.h"

namespace pcnn_bench {
void register_model() {}
}  // namespace pcnn_bench
