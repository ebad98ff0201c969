/**
 * A rate-limited network link on this machine, for benchmarks that must not run on loopback: a
 * network namespace joined to the root namespace by one veth pair with a private /30 of its own.
 * Whatever the namespace sends (the registry's answers) leaves through a token bucket (tc tbf) at the
 * given rate, optionally delayed by netem, as a venue's Wi-Fi or shared 1 GbE would carry it. Only
 * the two ends of the pair hold the addresses, so no packet can reach any other network.
 *
 * Needs root and iproute2. Names are vbench-<pid> (namespace) and vb<pid>h / vb<pid>n (veth ends);
 * a run killed before its cleanup leaves them behind, and the next run removes them.
 */
import { killNamespaceProcesses, removeStaleNamespaces, runProgram } from "../scripts/netns";
import { requireProgram } from "../test/support/services";

export interface ShapedLinkOptions {
  /** Rate of the namespace's outgoing direction, in Mbit/s. */
  mbit: number;
  /** Delay added to the same direction by netem, in ms; 0 for none. */
  delayMs: number;
  /**
   * The kernel may lack netem (CONFIG_NET_SCH_NETEM). true: fail then; false: carry on with the rate
   * limit alone and say so through `log`.
   */
  requireDelay: boolean;
  log: (line: string) => void;
}

export interface ShapedLink {
  /** Run programs in it with `ip netns exec <namespace> ...`. */
  namespace: string;
  /** The root namespace's end, e.g. 10.213.7.1. */
  hostAddress: string;
  /** The namespace's end, e.g. 10.213.7.2: where its servers listen. */
  address: string;
  /** The current rate, in Mbit/s. */
  mbit: number;
  /** The delay actually applied (0 when none was asked for or netem is missing). */
  delayMs: number;
  /** Changes the rate in place; the delay and the byte counter stay. */
  setRate(mbit: number): void;
  /** Bytes that went through the shaped direction since the link was made (headers included). */
  shapedBytes(): number;
  /** Kills whatever still runs in the namespace and deletes it and the veth pair. Safe to call twice. */
  destroy(): void;
}

const NAMESPACE_PREFIX = "vbench-";
/** 10.213.X.0/30 per run; X is chosen so no address or route of this machine overlaps it. */
const SUBNET_PREFIX = "10.213";

function ip(args: string[]): string {
  return runProgram("ip", args);
}

function deleteQuietly(args: string[]): void {
  try {
    ip(args);
  } catch {
    // Not there (any more).
  }
}

function hostEnd(pid: number): string {
  return `vb${pid}h`;
}

function namespaceEnd(pid: number): string {
  return `vb${pid}n`;
}

/** Links left by a bench that was killed before it could clean up (its pid is gone). */
export function removeStaleShapedLinks(log: (line: string) => void): string[] {
  const removed = removeStaleNamespaces(new RegExp(`^${NAMESPACE_PREFIX}(\\d+)$`), (_name, ownerPid) => deleteQuietly(["link", "del", hostEnd(ownerPid)]));
  if (removed.length > 0) log(`removed ${removed.join(", ")}, left by an earlier bench that was killed`);
  return removed;
}

function ipv4ToNumber(address: string): number {
  return address.split(".").reduce((value, part) => value * 256 + Number(part), 0);
}

/** Whether 10.213.X.0/30 overlaps any address or route (other than the default) of this machine. */
function subnetInUse(third: number): boolean {
  const low = ipv4ToNumber(`${SUBNET_PREFIX}.${third}.0`);
  const high = low + 3;
  const networks: string[] = [];
  for (const route of JSON.parse(ip(["-j", "-4", "route", "show", "table", "all"])) as Array<{ dst: string }>) {
    if (route.dst && route.dst !== "default") networks.push(route.dst);
  }
  for (const link of JSON.parse(ip(["-j", "-4", "addr", "show"])) as Array<{ addr_info?: Array<{ local: string; prefixlen: number }> }>) {
    for (const info of link.addr_info ?? []) networks.push(`${info.local}/${info.prefixlen}`);
  }
  return networks.some((network) => {
    const [base, bits] = network.split("/");
    const size = 2 ** (32 - Number(bits ?? 32));
    const start = Math.floor(ipv4ToNumber(base) / size) * size;
    return start <= high && low <= start + size - 1;
  });
}

function freeSubnet(): number {
  for (let i = 0; i < 256; i++) {
    const third = (process.pid + i) % 256;
    if (!subnetInUse(third)) return third;
  }
  throw new Error(`no free ${SUBNET_PREFIX}.X.0/30 on this machine for the shaped link`);
}

/** Builds the link. Call `destroy` when done (also from signal handlers: it is synchronous). */
export function createShapedLink(options: ShapedLinkOptions): ShapedLink {
  requireProgram("ip", "iproute2");
  requireProgram("tc", "iproute2");
  if (!(options.delayMs >= 0)) throw new Error(`the delay must be 0 ms or more (got ${options.delayMs})`);
  const namespace = `${NAMESPACE_PREFIX}${process.pid}`;
  const hostDevice = hostEnd(process.pid);
  const namespaceDevice = namespaceEnd(process.pid);
  const third = freeSubnet();
  const hostAddress = `${SUBNET_PREFIX}.${third}.1`;
  const address = `${SUBNET_PREFIX}.${third}.2`;
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    killNamespaceProcesses(namespace);
    deleteQuietly(["netns", "del", namespace]);
    // The namespace's end goes with the namespace; the pair goes with either end.
    deleteQuietly(["link", "del", hostDevice]);
  };

  try {
    ip(["netns", "add", namespace]);
    ip(["-n", namespace, "link", "set", "lo", "up"]);
    ip(["link", "add", hostDevice, "type", "veth", "peer", "name", namespaceDevice, "netns", namespace]);
    ip(["addr", "add", `${hostAddress}/30`, "dev", hostDevice]);
    ip(["link", "set", hostDevice, "up"]);
    ip(["-n", namespace, "addr", "add", `${address}/30`, "dev", namespaceDevice]);
    ip(["-n", namespace, "link", "set", namespaceDevice, "up"]);
    // The token bucket is the link's rate; a 256 KB burst is about what a NIC's ring releases at once.
    // "replace" adds it the first time and changes it in place later, keeping netem below it.
    const shape = (mbit: number) => {
      if (!(mbit > 0)) throw new Error(`the link rate must be above 0 Mbit/s (got ${mbit})`);
      runProgram("tc", ["-n", namespace, "qdisc", "replace", "dev", namespaceDevice, "root", "handle", "1:", "tbf", "rate", `${mbit}mbit`, "burst", "256kb", "latency", "50ms"]);
    };
    shape(options.mbit);
    let delayMs = 0;
    if (options.delayMs > 0) {
      try {
        runProgram("tc", ["-n", namespace, "qdisc", "add", "dev", namespaceDevice, "parent", "1:1", "handle", "10:", "netem", "delay", `${options.delayMs}ms`, "limit", "10000"]);
        delayMs = options.delayMs;
      } catch (error) {
        if (!/unknown/i.test((error as Error).message)) throw error;
        const problem = `this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), so no delay can be added`;
        if (options.requireDelay) throw new Error(`${problem}. Leave out --delay-ms to measure with the rate limit alone.`);
        options.log(`note: ${problem}; the link is rate-limited only`);
      }
    }
    const link: ShapedLink = {
      namespace,
      hostAddress,
      address,
      mbit: options.mbit,
      delayMs,
      setRate: (mbit) => {
        shape(mbit);
        link.mbit = mbit;
      },
      shapedBytes: () => {
        const qdiscs = JSON.parse(runProgram("tc", ["-n", namespace, "-s", "-j", "qdisc", "show", "dev", namespaceDevice])) as Array<{ kind: string; bytes: number }>;
        return qdiscs.find((qdisc) => qdisc.kind === "tbf")?.bytes ?? 0;
      },
      destroy,
    };
    return link;
  } catch (error) {
    destroy();
    throw error;
  }
}
