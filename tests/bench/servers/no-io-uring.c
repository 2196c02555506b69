// Runs a command with io_uring_setup refused (EPERM) by a seccomp filter, as a container runtime's
// default profile does: to check what happens where io_uring is forbidden without changing the
// machine (kernel.io_uring_disabled is system-wide). The filter is inherited by every child.
//
//   cc -O2 -Wall -Wextra -o build/bench/no-io-uring tests/bench/servers/no-io-uring.c
//   build/bench/no-io-uring node tests/bench/net.mjs --quick --points 100 --servers c,c-uring
//     (the C io_uring column reads "unavailable: c-uring: io_uring unavailable: io_uring_setup:
//      Operation not permitted"; C epoll runs)
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: no-io-uring COMMAND [ARGS...]\n"); return 2; }
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { perror("no-io-uring"); return 1; }
  execvp(argv[1], argv + 1);
  perror("no-io-uring: exec");
  return 1;
}
