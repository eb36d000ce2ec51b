// libnl-3 / libnl-route-3 and the kernel's netlink headers (rtnetlink, nf_tables), for the Netlink
// module only.
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/socket.h>
#include <netlink/errno.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvlan.h>
#include <netlink/route/link/ipvlan.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/netconf.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/netconf.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/if_bridge.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
