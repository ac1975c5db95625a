"""Outbound networking for sandboxes: the operator's policy, the host's one nftables
table, and DNS (docs/decisions/0102-sandbox-network.md).

Each wired sandbox namespace gets a /30 from `NetworkPolicy.subnet` over a veth pair
whose host end is named `llsb<slot>` (netns.py). Everything else is decided here, once
per host, by one table, `inet lambdalite`, whose rules match only interfaces named
`llsb*` — so the table is inert for the rest of the host and needs no per-sandbox rule:

- to the host (input hook): nothing from a sandbox reaches any host address — loopback
  is already martian while `route_localnet` is 0, and this covers every other address,
  IPv6 link-local included — except replies (established/related) and the ip:port
  allow-list;
- forwarded: the allow-list first, then private and special-purpose ranges (the
  operator's LAN, the cloud metadata service at 169.254.169.254, other sandboxes...)
  dropped, sandbox-to-sandbox dropped, IPv6 dropped (sandboxes are IPv4-only), at most
  `MAX_CONNECTIONS` tracked connections per sandbox (conntrack is shared with the host);
  nothing may open a connection *into* a sandbox;
- spoofed source addresses dropped (reverse-path check), the rest masqueraded.

The table is replaced atomically (one `nft -f` transaction) whenever a backend starts,
and left in place on close: a second lambdalite process on the host may still have
sandboxes that rely on it, and its rules do nothing without `llsb*` interfaces. So the
instances on one host share one policy; the last one started wins.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

INTERFACE_PREFIX = "llsb"
TABLE = "lambdalite"
# RFC 1918, so never mistaken for a public destination, and clear of what usually shares
# a host: Docker (172.17+/16, 192.168/16), Tailscale (100.64/10), Kubernetes defaults
# (10.96/12, 10.244/16), AWS's default VPC (172.31/16). A /16 holds 16,384 sandboxes.
DEFAULT_SUBNET = "10.200.0.0/16"
# Not globally reachable (IANA special-purpose registry): where the operator's services,
# other machines of the LAN and cloud metadata live. Documentation ranges too: this very
# kind of VM sits on 192.0.2.0/24.
BLOCKED_V4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)  # fmt: skip
# Per sandbox, new connections past this are dropped; AWS allows 1,024 fds per sandbox,
# and closed connections linger in conntrack for a while.
MAX_CONNECTIONS = 4096
RESOLV_CONF_PATHS = ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def parse_endpoint(text: str) -> tuple[ipaddress.IPv4Address, int]:
    """ "ip:port" of an allow-list entry; loopback can never be reached from a sandbox."""
    host, sep, port = text.strip().rpartition(":")
    try:
        address = ipaddress.IPv4Address(host)
        number = int(port)
    except ValueError:
        raise ValueError(f"allow-list entry {text!r} is not IPv4 'ip:port'") from None
    if not sep or not 0 < number < 65536:
        raise ValueError(f"allow-list entry {text!r} is not IPv4 'ip:port'")
    if address.is_loopback or address.is_unspecified or address.is_multicast:
        raise ValueError(
            f"allow-list entry {text!r}: sandboxes can never reach the host's loopback "
            "(route_localnet=0); bind the service to a non-loopback address and allow that"
        )
    return address, number


@dataclass(frozen=True)
class NetworkPolicy:
    """How sandboxes of this host reach the network (the operator's settings).

    `enabled=False` gives every sandbox only `lo`, like a function set to "none".
    `allow`: "ip:port" destinations reachable although they are the host itself or in a
    blocked range (TCP and UDP), e.g. the database the functions should use.
    `dns`: resolvers for the sandboxes; None reads the host's (`RESOLV_CONF_PATHS`);
    they are allowed on port 53 implicitly.
    `blocked`: ranges dropped in forwarding; the default is the special-purpose registry.
    """

    enabled: bool = True
    allow: tuple[str, ...] = ()
    subnet: str = DEFAULT_SUBNET
    dns: tuple[str, ...] | None = None
    blocked: tuple[str, ...] = BLOCKED_V4

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow", tuple(self.allow))
        for entry in self.allow:
            parse_endpoint(entry)
        net = ipaddress.IPv4Network(self.subnet)
        if not 8 <= net.prefixlen <= 30:
            raise ValueError(f"sandbox subnet {self.subnet} must be between /8 and /30")
        for cidr in self.blocked:
            ipaddress.IPv4Network(cidr)
        for server in self.dns or ():
            parse_endpoint(f"{server}:53")

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)


def host_resolvers(paths: tuple[str, ...] = RESOLV_CONF_PATHS) -> tuple[list[str], str | None]:
    """The host's upstream IPv4 resolvers, and a warning when there are none usable.

    A resolver on the host's loopback (systemd-resolved's 127.0.0.53, a local dnsmasq)
    is unreachable from a sandbox; systemd-resolved lists its real upstreams in its own
    file, tried second."""
    skipped: list[str] = []
    for path in paths:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        found = []
        for line in lines:
            fields = line.split()
            if len(fields) < 2 or fields[0] != "nameserver":
                continue
            try:
                address = ipaddress.ip_address(fields[1].split("%")[0])
            except ValueError:
                continue
            if address.version == 4 and not address.is_loopback and not address.is_unspecified:
                found.append(str(address))
            else:
                skipped.append(fields[1])
        if found:
            return found[:3], None  # glibc reads at most three
    why = f"only loopback or IPv6 resolvers ({', '.join(skipped)})" if skipped else "none"
    return [], f"sandboxes have no DNS: the host's resolvers are {why}; set dns explicitly"


def _route_overlaps(subnet: ipaddress.IPv4Network) -> str | None:
    """A host route (not ours) that overlaps the sandbox subnet, if any."""
    try:
        rows = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return None
    for row in rows:
        fields = row.split()
        if len(fields) < 8 or fields[0].startswith(INTERFACE_PREFIX):
            continue
        dest = ipaddress.IPv4Address(bytes.fromhex(fields[1])[::-1])
        mask = ipaddress.IPv4Address(bytes.fromhex(fields[7])[::-1])
        if int(mask) == 0:
            continue  # the default route overlaps everything by design
        route = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        if route.overlaps(subnet):
            return f"the host routes {route} via {fields[0]}"
    return None


def _chain(name: str, hook: str | None, rules: list[str]) -> list[str]:
    head = [f"    type {hook}; policy accept;"] if hook else []
    return [f"  chain {name} {{", *head, *(f"    {rule}" for rule in rules), "  }"]


def firewall_script(policy: NetworkPolicy, resolvers: list[str], guard: bool) -> str:
    """The whole table, as one atomic nft transaction that replaces any previous one."""
    sb = f'"{INTERFACE_PREFIX}*"'
    allow = [parse_endpoint(e) for e in policy.allow]
    allow += [parse_endpoint(f"{r}:53") for r in resolvers]
    allow_elements = ", ".join(sorted({f"{ip} . {port}" for ip, port in allow}))
    blocked = ", ".join(policy.blocked)
    lines = [
        f"add table inet {TABLE}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        "  set allow4 { type ipv4_addr . inet_service;"
        + (f" elements = {{ {allow_elements} }};" if allow_elements else "")
        + " }",
        "  set blocked4 { type ipv4_addr; flags interval; auto-merge;"
        + (f" elements = {{ {blocked} }};" if blocked else "")
        + " }",
        "  set conns4 { type ipv4_addr; size 65535; flags dynamic; }",
        *_chain(
            "prerouting",
            "filter hook prerouting priority raw",
            [f"iifname {sb} fib saddr . iif oif missing drop"],  # spoofed source
        ),
        *_chain(
            "input",
            "filter hook input priority filter - 10",
            [f"iifname {sb} jump sandbox_to_host"],
        ),
        *_chain(
            "sandbox_to_host",
            None,
            [
                "ct state established,related accept",
                "meta l4proto { tcp, udp } ip daddr . th dport @allow4 accept",
                "counter drop",
            ],
        ),
        *_chain(
            "forward",
            "filter hook forward priority filter - 10",
            [
                f"iifname {sb} jump sandbox_out",
                f"oifname {sb} ct state established,related accept",
                f"oifname {sb} counter drop",
            ],
        ),
        *_chain(
            "sandbox_out",
            None,
            [
                f"oifname {sb} counter drop",
                "ct state established,related accept",
                "meta nfproto != ipv4 counter drop",
                f"ct state new add @conns4 {{ ip saddr ct count over {MAX_CONNECTIONS} }} "
                "counter drop",
                "meta l4proto { tcp, udp } ip daddr . th dport @allow4 accept",
                "ip daddr @blocked4 counter drop",
            ],
        ),
        *_chain(
            "postrouting",
            "nat hook postrouting priority srcnat",
            [f"iifname {sb} oifname != {sb} masquerade"],
        ),
    ]
    if guard:
        # ip_forward was 0 before lambdalite: the host must not start routing for its LAN
        # because of us, so forwarding that involves no sandbox stays off.
        lines += _chain(
            "forward_guard",
            "filter hook forward priority filter - 5",
            [f"iifname != {sb} oifname != {sb} drop"],
        )
    return "\n".join([*lines, "}", ""])


@dataclass(frozen=True)
class HostNetwork:
    """What preparing the host gave: whether sandboxes can be wired, their DNS, and a
    warning for the operator (shown at start and in GET /health) when something is off."""

    online: bool
    resolv_conf: str = ""
    warning: str | None = None

    def offline(self, why: str) -> HostNetwork:
        return HostNetwork(False, "", f"sandboxes have NO network, only lo: {why}")


def _nft() -> str | None:
    return shutil.which("nft", path="/usr/sbin:/sbin:/usr/bin:/bin")


def _run(nft: str, *args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nft, *args], input=script, capture_output=True, text=True, check=False, timeout=30
    )


def prepare_host(policy: NetworkPolicy) -> HostNetwork:
    """Install the table and turn on IPv4 forwarding, or say why sandboxes stay offline.

    Must run in the host's network namespace (sysctls and nft act on the caller's)."""
    if not policy.enabled:
        return HostNetwork(False)  # the operator's choice: nothing to warn about
    unavailable = HostNetwork(False)
    nft = _nft()
    if nft is None:
        return unavailable.offline("nft not found (apt: nftables)")
    if overlap := _route_overlaps(policy.network):
        return unavailable.offline(f"sandbox subnet {policy.subnet} overlaps: {overlap}")
    if policy.dns is None:
        resolvers, dns_warning = host_resolvers()
    else:
        resolvers, dns_warning = list(policy.dns), None
    try:
        forwarding = IP_FORWARD.read_text().strip() == "1"
    except OSError as e:
        return unavailable.offline(f"cannot read {IP_FORWARD}: {e.strerror}")
    # Guard the rest of the host's forwarding if lambdalite is what turns it on; keep the
    # guard on later runs, when forwarding is already on because of an earlier one.
    guard = (
        not forwarding or _run(nft, "list", "chain", "inet", TABLE, "forward_guard").returncode == 0
    )
    done = _run(nft, "-f", "-", script=firewall_script(policy, resolvers, guard))
    if done.returncode != 0:
        return unavailable.offline(f"nft refused the firewall table: {done.stderr.strip()}")
    if not forwarding:
        try:
            IP_FORWARD.write_text("1")
        except OSError as e:
            return unavailable.offline(f"cannot enable {IP_FORWARD}: {e.strerror}")
    resolv_conf = "".join(f"nameserver {r}\n" for r in resolvers)
    return HostNetwork(True, resolv_conf, dns_warning)


def firewall_present() -> bool:
    nft = _nft()
    return nft is not None and _run(nft, "list", "table", "inet", TABLE).returncode == 0


def sandbox_links() -> list[str]:
    """Host ends of sandbox veths on this host, whichever lambdalite process made them."""
    try:
        return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(INTERFACE_PREFIX))
    except OSError:
        return []


def remove_firewall() -> bool:
    """Delete the table and, if lambdalite turned IPv4 forwarding on, turn it off again.
    For tests and operators. Refuses (False) while any sandbox veth exists on the host:
    some lambdalite process still has sandboxes that rely on the table."""
    nft = _nft()
    if nft is None or sandbox_links():
        return False
    if _run(nft, "list", "chain", "inet", TABLE, "forward_guard").returncode == 0:
        IP_FORWARD.write_text("0")
    return _run(nft, "delete", "table", "inet", TABLE).returncode == 0
