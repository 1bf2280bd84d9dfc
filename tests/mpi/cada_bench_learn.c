/* tests/mpi/cada_bench_learn.c: runs src/cli/learn_cmds.c's benchmarks before they are
 * wired into the cada binary (`cada bench allreduce|learner` there):
 *   mpirun -np N build/mpi/cada_bench_learn allreduce [options]
 *   mpirun -np N build/mpi/cada_bench_learn learner [options] */
#include <stdio.h>
#include <string.h>

int cada_cmd_bench_allreduce(int argc, char **argv);
int cada_cmd_bench_learner(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "allreduce")) return cada_cmd_bench_allreduce(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "learner")) return cada_cmd_bench_learner(argc - 2, argv + 2);
    fprintf(stderr, "usage: cada_bench_learn allreduce|learner [options]\n");
    return 2;
}
