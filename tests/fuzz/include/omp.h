/* omp.h for the clang fuzz build (Makefile: build-fuzz/), which links gcc's
 * libgomp with -fopenmp=libgomp.  clang's own omp.h ships with libomp-dev,
 * which a plain Debian install of clang does not pull in, and gcc's omp.h does
 * not parse under clang (its `__malloc__ (omp_free)` attributes).  So this
 * header declares the OpenMP runtime routines the library calls, with the
 * OpenMP specification's C prototypes (libgomp exports them all).  A new
 * omp_* call in the library that is missing here fails the fuzz build with an
 * implicit-declaration error: add its prototype below. */
#ifndef PCNN_FUZZ_OMP_H
#define PCNN_FUZZ_OMP_H

#ifdef __cplusplus
extern "C" {
#endif

void omp_set_num_threads(int num_threads);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_num_procs(void);
int omp_in_parallel(void);
void omp_set_dynamic(int dynamic_threads);
int omp_get_dynamic(void);
int omp_get_thread_limit(void);
int omp_get_level(void);
double omp_get_wtime(void);
double omp_get_wtick(void);

#ifdef __cplusplus
}
#endif

#endif /* PCNN_FUZZ_OMP_H */
