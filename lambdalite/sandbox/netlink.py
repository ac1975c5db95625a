"""Just enough rtnetlink to wire a sandbox's network namespace: a veth pair, addresses,
a default route, links up and down.

Why not `ip`: each `ip` exec costs ~1 ms on this kind of VM and wiring one namespace
takes five of them (~4.8 ms, platform-facts), all competing for the two vCPUs with the
cold starts they serve. A netlink message costs microseconds. Why not pyroute2: a
dependency for five message types.

A netlink socket talks to the network namespace it was *created* in, whatever the
calling thread's namespace is later: the pool opens one socket in the host's namespace
once, and one inside each new namespace to configure the sandbox's side.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_IFNAME, IFLA_LINKINFO, IFLA_NET_NS_FD, IFLA_AF_SPEC = 3, 18, 28, 26
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFLA_INET6_ADDR_GEN_MODE = 8
IN6_ADDR_GEN_MODE_NONE = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")


def _attr(kind: int, payload: bytes) -> bytes:
    head = struct.pack("=HH", 4 + len(payload), kind)
    return head + payload + b"\0" * (-len(payload) % 4)


def _name(kind: int, name: str) -> bytes:
    return _attr(kind, name.encode() + b"\0")


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


# No IPv6 link-local address on either end: sandboxes are IPv4-only, and this skips
# duplicate address detection and MLD chatter per veth (the firewall drops IPv6 anyway).
_NO_IPV6 = _attr(IFLA_AF_SPEC, _attr(socket.AF_INET6, _attr(IFLA_INET6_ADDR_GEN_MODE, b"\x01")))


class Rtnl:
    """A blocking rtnetlink socket bound to the network namespace it is created in."""

    def __init__(self) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
        )
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, kind: int, flags: int, body: bytes) -> bytes:
        """Send one request; return the payload of its reply (b"" for a bare ACK)."""
        self._seq += 1
        seq = self._seq
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | flags, seq, 0)
        self._sock.send(header + body)
        payload = b""
        while True:
            data = self._sock.recv(65536)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, rtype, _, rseq, _ = _NLMSGHDR.unpack_from(data, offset)
                chunk = data[offset + _NLMSGHDR.size : offset + length]
                offset += (length + 3) & ~3
                if rseq != seq:
                    continue  # a stale reply to an earlier request that raised
                if rtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", chunk)
                    if code:
                        raise OSError(-code, f"netlink {kind}: {os.strerror(-code)}")
                    return payload
                if rtype == NLMSG_DONE:
                    return payload
                payload = chunk
                if not flags & NLM_F_ACK:
                    return payload

    def add_veth(self, name: str, peer: str, peer_netns_fd: int) -> None:
        """A veth pair: `name` here, `peer` in the namespace `peer_netns_fd` refers to.
        EEXIST when another process (or a previous run) already holds `name`."""
        peer_info = _ifinfo() + _name(IFLA_IFNAME, peer)
        peer_info += _attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
        linkinfo = _attr(IFLA_INFO_KIND, b"veth") + _attr(
            IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_info)
        )
        body = _ifinfo() + _name(IFLA_IFNAME, name) + _attr(IFLA_LINKINFO, linkinfo)
        self._request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def index(self, name: str) -> int:
        reply = self._request(RTM_GETLINK, 0, _ifinfo() + _name(IFLA_IFNAME, name))
        return int(_IFINFOMSG.unpack_from(reply)[2])

    def set_up(self, index: int, *, ipv6: bool = True) -> None:
        """Bring a link up; with `ipv6=False` it gets no IPv6 link-local address."""
        body = _ifinfo(index, IFF_UP, IFF_UP) + (b"" if ipv6 else _NO_IPV6)
        self._request(RTM_NEWLINK, NLM_F_ACK, body)

    def add_address(self, index: int, interface: ipaddress.IPv4Interface) -> None:
        packed = interface.ip.packed
        body = _IFADDRMSG.pack(socket.AF_INET, interface.network.prefixlen, 0, 0, index)
        body += _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
        self._request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def add_default_route(self, gateway: ipaddress.IPv4Address) -> None:
        body = _RTMSG.pack(
            socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
        )
        body += _attr(RTA_GATEWAY, gateway.packed)
        self._request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def delete_link(self, name: str) -> bool:
        """Delete a link (a veth takes its peer with it); False if it was already gone."""
        try:
            self._request(RTM_DELLINK, NLM_F_ACK, _ifinfo() + _name(IFLA_IFNAME, name))
        except OSError as e:
            if e.errno in (errno.ENODEV, errno.ENOENT):
                return False
            raise
        return True
