/* cli_mpi.h: the pixelcnn program's ranks (model/cli_mpi.c, the one file
 * that sees MPI). Program code only: not part of libpcnn. */
#ifndef PCNN_CLI_MPI_H
#define PCNN_CLI_MPI_H

#include "dist.h"

/* Under mpirun (OpenMPI's OMPI_COMM_WORLD_SIZE, or PMIX_RANK / PMI_SIZE in
 * the environment): MPI_Init, and the ranks of MPI_COMM_WORLD. Otherwise one
 * process, and no MPI call at all (no start-up cost, no launcher needed). */
pcnn_dist_t cli_dist_start(void);
/* Ends this rank with the program's exit status: MPI_Finalize after
 * success; after a failure none (it would wait for ranks that may be
 * waiting for this one), so mpirun ends the job. Returns status. */
int cli_dist_end(const pcnn_dist_t *d, int status);

#endif
