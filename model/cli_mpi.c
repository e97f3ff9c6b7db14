/* cli_mpi.c: MPI under the pixelcnn program's pcnn_dist_t (dist.h): the
 * gather, exchange and broadcast of data-parallel training, over
 * MPI_COMM_WORLD. Messages larger than 1 GB go in pieces (MPI counts are
 * ints). Every failure of MPI aborts the job (MPI's default handler), so a
 * rank that dies ends the others instead of leaving them waiting. */
#include "cli_mpi.h"

#include <mpi.h>
#include <stdlib.h>

enum { PIECE = 1 << 30 };

static int m_allgather(const pcnn_dist_t *d, void *out, const void *in, size_t bytes) {
  (void)d;
  if (bytes <= PIECE)
    return MPI_Allgather(in, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
  /* in pieces: piece k of every rank lands at its rank's offset */
  char *tmp = malloc((size_t)PIECE * d->size);
  if (!tmp) return -1;
  for (size_t o = 0; o < bytes; o += PIECE) {
    const size_t k = bytes - o < PIECE ? bytes - o : PIECE;
    if (MPI_Allgather((const char *)in + o, (int)k, MPI_BYTE, tmp, (int)k, MPI_BYTE, MPI_COMM_WORLD) != MPI_SUCCESS) {
      free(tmp);
      return -1;
    }
    for (int r = 0; r < d->size; r++)
      for (size_t j = 0; j < k; j++) ((char *)out)[(size_t)r * bytes + o + j] = tmp[(size_t)r * k + j];
  }
  free(tmp);
  return 0;
}

static int m_sendrecv(const pcnn_dist_t *d, void *recv, const void *send, size_t bytes, int peer) {
  (void)d;
  for (size_t o = 0; o < bytes; o += PIECE) {
    const int k = (int)(bytes - o < PIECE ? bytes - o : PIECE);
    if (MPI_Sendrecv((const char *)send + o, k, MPI_BYTE, peer, 7, (char *)recv + o, k, MPI_BYTE, peer, 7,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      return -1;
  }
  return 0;
}

static int m_bcast(const pcnn_dist_t *d, void *buf, size_t bytes) {
  (void)d;
  for (size_t o = 0; o < bytes; o += PIECE) {
    const int k = (int)(bytes - o < PIECE ? bytes - o : PIECE);
    if (MPI_Bcast((char *)buf + o, k, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
  }
  return 0;
}

static int launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

pcnn_dist_t cli_dist_start(void) {
  pcnn_dist_t d = pcnn_dist_single();
  if (!launched()) return d;
  MPI_Init(NULL, NULL);
  MPI_Comm_rank(MPI_COMM_WORLD, &d.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &d.size);
  d.allgather = m_allgather;
  d.sendrecv = m_sendrecv;
  d.bcast = m_bcast;
  static int mpi_run = 1;
  d.ctx = &mpi_run; /* marks an MPI run */
  return d;
}

int cli_dist_end(const pcnn_dist_t *d, int status) {
  /* a failed rank leaves without MPI_Finalize (which waits for every rank,
   * and the others may be waiting in a collective for this one): mpirun
   * then ends the job */
  if (d->ctx && status == 0) MPI_Finalize();
  return status;
}
