"""Virtual IP addresses over netlink (pyroute2): add, remove, probe, announce, report.

What an HA administrator expects of a VIP, in the spirit of IPaddr2:

- the interface is the one whose connected route covers the address, unless given;
- before adding, a probe (RFC 5227 ARP probe / RFC 4862 duplicate address detection)
  proves nobody else answers for the address; if someone does, refuse and name its MAC:
  two hosts answering for one VIP is how a group's data gets corrupted;
- IPv4 addresses get a label `IFNAME:SUFFIX` (ifconfig-era alias naming that `ip`,
  net-tools and operators recognise; at most 15 characters, the kernel's IFNAMSIZ-1);
  Linux stores no labels for IPv6;
- the new owner announces itself (gratuitous ARP / unsolicited neighbour advertisement)
  so clients switch over at once instead of waiting for their caches to expire; the
  first announcement before `up` returns, the others from a background process that
  `down` ends before it removes the address (announcer.py), as IPaddr2 does;
- up and down are idempotent; an optional /etc/hosts alias follows the address;
- up adopts and down removes only an address s2s-sd put there: IPv4 by its label (the
  one this VIP gets), IPv6 (which has no labels) by the address protocol s2s-sd adds it
  with (IFA_PROTO, Linux 6.3+, shown as `proto 83` by `ip -6 addr`) or, on kernels that
  ignore that attribute (Debian 12's 6.1), by the record s2s-sd keeps of it in
  RUN_DIR/vips (records.py), checked against the address's flags and creation stamp.
  Anything else, such as the interface's primary address after a typo, is refused
  (exit 3, naming interface and address) unless forced.

Every operation can act on another network namespace (`netns`: a path such as
/proc/PID/ns/net or /run/netns/NAME, or a bare name under /run/netns), so the runtime
can handle the local host and lab nodes without a subprocess. Everything touching the
kernel happens on sockets opened inside that namespace.

The package, one concern a module:

  vip           the VIP as given, and the results: value types and input rules (pure)
  netlink       namespaces and the kernel's view through pyroute2 (links, addresses,
                connected routes); adding and deleting an address
  ownership     whether an address here is s2s-sd's: label, address protocol or record
  records       the records of the IPv6 VIPs s2s-sd added, in RUN_DIR/vips
  wire          probes and announcements on packet sockets
  packets       the ARP and neighbour discovery frames (pure)
  announcer     the background process that sends the later announcements
  hosts_file    the /etc/hosts alias that follows the address
  migrate_note  the note by which `vip up` takes over IPaddr2's address (migrate)
  ops           the operations: vip_up, vip_down, vip_status, who_answers
"""
