import net from "node:net";

/**
 * Address ranges a download must never reach unless the host is explicitly allowed:
 * loopback, private, link-local, CGNAT, unique-local, multicast, documentation and
 * reserved ranges. Reaching them from a server is the classic SSRF pivot.
 */
const V4_RANGES: Array<[string, number]> = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
];

const V6_RANGES: Array<[string, number]> = [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001::", 23],
  ["2001:db8::", 32],
  ["2002::", 16],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
];

const blocked = new net.BlockList();
for (const [a, p] of V4_RANGES) blocked.addSubnet(a, p, "ipv4");
for (const [a, p] of V6_RANGES) blocked.addSubnet(a, p, "ipv6");

// Kept apart: BlockList compares IPv4 addresses against IPv6 rules through the mapped form,
// so putting ::ffff:0:0/96 in the main list would block every IPv4 address.
const mapped = new net.BlockList();
mapped.addSubnet("::ffff:0:0", 96, "ipv6");

/** Strip the brackets of an IPv6 URL hostname. */
export function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** Why `address` (an IP literal) is not a public unicast address, or null when it is. */
export function disallowedReason(address: string): string | null {
  const family = net.isIP(address);
  if (family === 0) return "not an IP address";
  if (family === 6 && mapped.check(address, "ipv6")) return "IPv4-mapped IPv6 address";
  if (blocked.check(address, family === 4 ? "ipv4" : "ipv6")) {
    return "loopback, private, link-local or reserved address";
  }
  return null;
}

/** Hostnames that always mean this machine, whatever DNS says. */
export function isLocalHostname(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost");
}
