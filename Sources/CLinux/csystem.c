#define _GNU_SOURCE
#include "csystem.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/vfs.h>
#include <unistd.h>

extern char **environ;

char **csystem_environ(void) { return environ; }
int csystem_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
int csystem_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }
int csystem_unshare_net(void) { return unshare(CLONE_NEWNET); }
long csystem_fs_magic(int fd) {
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return -1;
    return (long)st.f_type;
}
