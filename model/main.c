/* main.c: the pixelcnn program (placeholder until the model lands). */
#include <stdio.h>
#include <string.h>

#include "pcnn_kernels.h"

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "info") == 0) {
    const pcnn_kernels_t *t = pcnn_kernels();
    printf("kernel level: %s\n", pcnn_isa_name(pcnn_kernels_isa()));
    for (int op = 0; op < pcnn_op_count(); op++)
      printf("  %-28s %s\n", pcnn_op_name(op), pcnn_isa_name(t->isa_of[op]));
    return 0;
  }
  fprintf(stderr, "usage: pixelcnn info\n");
  return 2;
}
