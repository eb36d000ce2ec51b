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

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int csystem_packet_socket(int ifindex) {
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
    if (fd < 0) return -1;
    /* Only UDP to port 68, unfragmented (offsets from the IP header: a SOCK_DGRAM packet
       socket): the pod's other traffic never wakes the DHCP client. */
    static struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 6),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 68, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = { .len = sizeof code / sizeof code[0], .filter = code };
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_IP);
    sll.sll_ifindex = ifindex;
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

long csystem_packet_broadcast(int fd, int ifindex, const void *buf, unsigned long len) {
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_IP);
    sll.sll_ifindex = ifindex;
    sll.sll_halen = ETH_ALEN;
    memset(sll.sll_addr, 0xff, ETH_ALEN);
    return sendto(fd, buf, len, 0, (struct sockaddr *)&sll, sizeof sll);
}

long csystem_packet_receive(int fd, void *buf, unsigned long len) {
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    long n = recvfrom(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
    if (n < 0) return -1;
    if (from.sll_pkttype == PACKET_OUTGOING || from.sll_pkttype == PACKET_OTHERHOST) return 0;
    return n;
}

int csystem_clear_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err;
}

int csystem_udp_socket_on_link(const char *ifname, unsigned short port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
        || setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0
        || setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0
        || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

#include <sys/mman.h>
int csystem_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }
