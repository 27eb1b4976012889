"""Address filters for the vanban playbooks.

ansible.builtin has no CIDR arithmetic and ansible.utils is a collection (not downloadable in a
closed provincial network), so the few checks we need live here, on the standard ipaddress module.
"""

import ipaddress


def _network(value):
    return ipaddress.ip_network(str(value).strip(), strict=False)


def vanban_in_networks(address, networks):
    """True when address (an IP) lies inside any of the CIDR networks."""
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError:
        return False
    return any(ip in _network(net) for net in networks or [] if _network(net).version == ip.version)


def vanban_bad_cidrs(networks):
    """The entries of a list that are not valid IPv4/IPv6 networks or addresses."""
    bad = []
    for net in networks or []:
        try:
            _network(net)
        except ValueError:
            bad.append(str(net))
    return bad


def vanban_is_address(value):
    """True for one IPv4 or IPv6 address (no prefix length, no name)."""
    try:
        ipaddress.ip_address(str(value).strip())
    except ValueError:
        return False
    return True


def vanban_url_host(address):
    """An address as the host part of a URL: IPv6 in brackets."""
    address = str(address).strip()
    return f"[{address}]" if ":" in address else address


def vanban_ipv4(networks):
    return [str(_network(n)) for n in networks or [] if _network(n).version == 4]


def vanban_ipv6(networks):
    return [str(_network(n)) for n in networks or [] if _network(n).version == 6]


def vanban_table(rows, headers):
    """Format rows (lists) as aligned text lines under headers, for one readable debug table."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [fmt([str(h) for h in headers]), line] + [fmt(r) for r in rows]


class FilterModule:
    def filters(self):
        return {
            "vanban_in_networks": vanban_in_networks,
            "vanban_bad_cidrs": vanban_bad_cidrs,
            "vanban_is_address": vanban_is_address,
            "vanban_url_host": vanban_url_host,
            "vanban_ipv4": vanban_ipv4,
            "vanban_ipv6": vanban_ipv6,
            "vanban_table": vanban_table,
        }
