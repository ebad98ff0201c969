/**
 * The laptop's LAN addresses: what attendees type. Loopback, link-local and the virtual bridges of
 * Docker, VMs and VPNs are left out, since no attendee can reach them.
 */
import * as os from "os";

export interface LanAddress {
  interfaceName: string;
  address: string;
}

// docker0/br-*/veth*: Docker; vboxnet/vmnet/virbr: VMs; utun/tun/tap/wg: VPNs; bridge100: macOS sharing.
const VIRTUAL_INTERFACE = /^(docker\d*|br-|veth|vboxnet|vmnet|virbr|utun|tun|tap|wg|zt|tailscale|lo|bridge\d+|awdl|llw|ap\d)/i;

function isPrivateIPv4(address: string): boolean {
  const [a, b] = address.split(".").map(Number);
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

function isLinkLocalIPv4(address: string): boolean {
  return address.startsWith("169.254.");
}

/** IPv4 LAN addresses, private ranges first, then in interface order. */
export function findLanAddresses(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): LanAddress[] {
  const found: LanAddress[] = [];
  for (const [interfaceName, infos] of Object.entries(interfaces)) {
    if (VIRTUAL_INTERFACE.test(interfaceName)) continue;
    for (const info of infos ?? []) {
      if (info.family !== "IPv4" || info.internal || isLinkLocalIPv4(info.address)) continue;
      found.push({ interfaceName, address: info.address });
    }
  }
  const rank = (a: LanAddress) => (isPrivateIPv4(a.address) ? 0 : 1);
  return found.map((a, i) => ({ a, i })).sort((x, y) => rank(x.a) - rank(y.a) || x.i - y.i).map(({ a }) => a);
}

/** The address for the projector: the configured one, else the first LAN address, else loopback. */
export function chooseAdvertisedAddress(lan: LanAddress[], configured?: string): { address: string; warning?: string } {
  if (configured) return { address: configured };
  if (lan.length > 0) return { address: lan[0].address };
  return {
    address: "127.0.0.1",
    warning:
      "No LAN address found: this laptop is not on a network, so attendees cannot reach the venue yet. " +
      "Join the venue's Wi-Fi or plug in Ethernet, then run `pulumi up` again (or set advertiseAddress).",
  };
}
