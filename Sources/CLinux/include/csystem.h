#ifndef SWIFT_CNI_CSYSTEM_H
#define SWIFT_CNI_CSYSTEM_H
// The glibc pieces Swift cannot see or rejects as unsafe globals. Kept in a regular C target
// (not a system library) so that SwiftPM rebuilds dependents when it changes.
#include <sys/types.h>

/// The process environment (Swift 6 rejects `environ` as an unsafe global).
char **csystem_environ(void);
/// pipe2(2) with O_CLOEXEC.
int csystem_pipe_cloexec(int fds[2]);
/// setns(2) for a network namespace fd.
int csystem_setns_net(int fd);
/// unshare(CLONE_NEWNET).
int csystem_unshare_net(void);
/// The filesystem magic of an open descriptor (fstatfs f_type), or -1 with errno set.
long csystem_fs_magic(int fd);

#endif
