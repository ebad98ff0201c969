/**
 * Which venue mirror an attendee laptop pulls from. Every laptop ranks the mirrors by rendezvous
 * (highest-random-weight) hashing of its own stable identity with each mirror's address: the load
 * divides evenly, a laptop keeps its mirror from one run to the next, and when a mirror leaves the
 * list only the laptops that ranked it first move, spread evenly over the others. The rest of the
 * ranking is the failover order, so the attendees of a mirror that stops answering also spread out
 * instead of all landing on the primary.
 *
 * Pure apart from `machineIdentity`, whose sources are injectable.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";

/** "Host:Port" and "host:port" are the same mirror; the order of first appearance is kept. */
export function normalizeMirrorAddress(address: string): string {
  return address.trim().toLowerCase();
}

/** The mirror's weight for this machine: the first 8 bytes of sha256(identity, NUL, address). */
export function rendezvousWeight(machineId: string, mirror: string): bigint {
  const digest = crypto.createHash("sha256").update(machineId).update("\0").update(normalizeMirrorAddress(mirror)).digest();
  return digest.readBigUInt64BE(0);
}

/**
 * The mirrors in the order this machine tries them: its assigned mirror first, then the failover
 * order. Duplicates (ignoring case and spaces) and empty entries are dropped. Equal weights, which
 * need a 64-bit collision, keep the list's order.
 */
export function orderMirrorsForMachine(mirrors: readonly string[], machineId: string): string[] {
  if (machineId.length === 0) throw new Error("A machine identity is needed to pick a mirror; it was empty.");
  const seen = new Set<string>();
  const unique: string[] = [];
  for (const mirror of mirrors) {
    const normal = normalizeMirrorAddress(mirror);
    if (normal === "" || seen.has(normal)) continue;
    seen.add(normal);
    unique.push(normal);
  }
  return unique
    .map((mirror, position) => ({ mirror, position, weight: rendezvousWeight(machineId, mirror) }))
    .sort((a, b) => (a.weight === b.weight ? a.position - b.position : a.weight > b.weight ? -1 : 1))
    .map((ranked) => ranked.mirror);
}

/** This machine's assigned mirror, or undefined for an empty list. */
export function assignedMirror(mirrors: readonly string[], machineId: string): string | undefined {
  return orderMirrorsForMachine(mirrors, machineId)[0];
}

/** How many of the given machines each mirror gets first; every listed mirror appears, with 0 when none. */
export function countAssignments(mirrors: readonly string[], machineIds: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>(mirrors.map((m) => [normalizeMirrorAddress(m), 0]));
  for (const id of machineIds) {
    const first = assignedMirror(mirrors, id);
    if (first !== undefined) counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return counts;
}

export interface MachineIdentitySources {
  /** Contents of /etc/machine-id (systemd, most Linux), or undefined when it cannot be read. */
  readMachineId(): string | undefined;
  hostname(): string;
  networkInterfaces(): NodeJS.Dict<os.NetworkInterfaceInfo[]>;
}

const ZERO_MAC = "00:00:00:00:00:00";

export const systemIdentitySources: MachineIdentitySources = {
  readMachineId: () => {
    for (const file of ["/etc/machine-id", "/var/lib/dbus/machine-id"]) {
      try {
        const text = fs.readFileSync(file, "utf8").trim();
        if (text !== "") return text;
      } catch {
        // Not Linux, or not readable: the next source decides.
      }
    }
    return undefined;
  },
  hostname: () => os.hostname(),
  networkInterfaces: () => os.networkInterfaces(),
};

/**
 * A stable, anonymous identity for this laptop: a hash of /etc/machine-id when there is one, else of
 * the host name and the sorted hardware addresses of its non-loopback interfaces. Only the hash
 * leaves the function, so nothing identifying is printed or sent.
 */
export function machineIdentity(sources: MachineIdentitySources = systemIdentitySources): string {
  const machineId = sources.readMachineId()?.trim();
  let material: string;
  if (machineId) {
    material = `machine-id:${machineId}`;
  } else {
    const macs = new Set<string>();
    for (const entries of Object.values(sources.networkInterfaces())) {
      for (const entry of entries ?? []) {
        if (!entry.internal && entry.mac && entry.mac !== ZERO_MAC) macs.add(entry.mac.toLowerCase());
      }
    }
    material = `host:${sources.hostname().toLowerCase()}|mac:${[...macs].sort().join(",")}`;
  }
  return crypto.createHash("sha256").update(material).digest("hex");
}
