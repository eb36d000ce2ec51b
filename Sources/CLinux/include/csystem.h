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
/// A packet socket (SOCK_DGRAM, ETH_P_IP) bound to one link, filtered to UDP port 68: the DHCP
/// client's way to send from 0.0.0.0 and to hear replies before the link has an address. -1
/// with errno set.
int csystem_packet_socket(int ifindex);
/// Sends an IP packet to the link's broadcast address (ff:ff:ff:ff:ff:ff) on a packet socket.
long csystem_packet_broadcast(int fd, int ifindex, const void *buf, unsigned long len);
/// Receives one IP packet addressed to this host or broadcast (not our own outgoing ones):
/// its length, 0 for a packet to skip, -1 with errno set.
long csystem_packet_receive(int fd, void *buf, unsigned long len);
/// Reads and clears a socket's pending error (SO_ERROR); returns it.
int csystem_clear_socket_error(int fd);
/// A UDP socket on 0.0.0.0:port bound to the link `ifname` (SO_BINDTODEVICE), broadcast allowed,
/// the port shared with other links' clients. -1 with errno set.
int csystem_udp_socket_on_link(const char *ifname, unsigned short port);

#endif

/// An anonymous in-memory file (memfd_create), closed on exec unless dup'ed; -1 and errno on failure.
int csystem_memfd(const char *name);
