import { expect } from "chai";
import * as os from "os";
import { assignedMirror, countAssignments, machineIdentity, orderMirrorsForMachine, rendezvousWeight } from "../lib/mirror-selection";

const mirrors = ["10.77.0.1:5000", "10.77.0.2:5000", "10.77.0.3:5000"];
const syntheticIds = (count: number): string[] => Array.from({ length: count }, (_, i) => `attendee-${i}`);

function iface(mac: string, internal = false): os.NetworkInterfaceInfo {
  return { address: "10.0.0.2", netmask: "255.255.255.0", family: "IPv4", mac, internal, cidr: "10.0.0.2/24" };
}

describe("mirror selection", () => {
  it("weighs a mirror with the first 8 bytes of sha256(identity NUL address)", () => {
    // printf 'laptop-1\00010.77.0.1:5000' | sha256sum | cut -c1-16 = fdccd74f301e1897
    expect(rendezvousWeight("laptop-1", "10.77.0.1:5000")).to.equal(18288228921954408599n);
    expect(rendezvousWeight("laptop-1", " 10.77.0.1:5000 ")).to.equal(18288228921954408599n);
  });

  it("orders the mirrors by weight: assigned first, then the failover order", () => {
    expect(orderMirrorsForMachine(mirrors, "laptop-1")).to.deep.equal(["10.77.0.1:5000", "10.77.0.3:5000", "10.77.0.2:5000"]);
    expect(orderMirrorsForMachine(mirrors, "laptop-2")).to.deep.equal(["10.77.0.2:5000", "10.77.0.1:5000", "10.77.0.3:5000"]);
    expect(orderMirrorsForMachine(mirrors, "laptop-4")).to.deep.equal(["10.77.0.1:5000", "10.77.0.3:5000", "10.77.0.2:5000"]);
    expect(assignedMirror(mirrors, "laptop-3")).to.equal("10.77.0.2:5000");
  });

  it("does not depend on the list's order, case or duplicates", () => {
    const shuffled = ["10.77.0.3:5000", "10.77.0.1:5000", "10.77.0.2:5000", "10.77.0.1:5000", "", "10.77.0.2:5000"];
    for (const id of syntheticIds(50)) {
      expect(orderMirrorsForMachine(shuffled, id)).to.deep.equal(orderMirrorsForMachine(mirrors, id));
    }
    expect(orderMirrorsForMachine(["Venue-B.local:5000", "venue-b.local:5000"], "x")).to.deep.equal(["venue-b.local:5000"]);
  });

  it("gives an empty order for no mirrors and refuses an empty identity", () => {
    expect(orderMirrorsForMachine([], "laptop-1")).to.deep.equal([]);
    expect(assignedMirror([], "laptop-1")).to.equal(undefined);
    expect(() => orderMirrorsForMachine(mirrors, "")).to.throw("A machine identity is needed to pick a mirror; it was empty.");
  });

  for (const count of [2, 3, 4, 5]) {
    it(`spreads 10,000 machines over ${count} mirrors within 4% of an even share`, () => {
      const list = Array.from({ length: count }, (_, i) => `10.77.0.${i + 1}:5000`);
      const counts = countAssignments(list, syntheticIds(10_000));
      expect([...counts.keys()]).to.deep.equal(list);
      const even = 10_000 / count;
      for (const [mirror, assigned] of counts) {
        expect(Math.abs(assigned - even) / even, `${mirror} got ${assigned}`).to.be.below(0.04);
      }
    });
  }

  it("reports exact counts for 10,000 machines over 3 mirrors", () => {
    expect([...countAssignments(mirrors, syntheticIds(10_000))]).to.deep.equal([
      ["10.77.0.1:5000", 3368],
      ["10.77.0.2:5000", 3364],
      ["10.77.0.3:5000", 3268],
    ]);
  });

  it("moves only a removed mirror's machines, and spreads them over the others", () => {
    const ids = syntheticIds(6_000);
    const moved: Record<string, number> = {};
    for (const id of ids) {
      const before = assignedMirror(mirrors, id)!;
      const after = assignedMirror(mirrors.slice(0, 2), id)!;
      if (before !== "10.77.0.3:5000") expect(after, id).to.equal(before);
      else moved[after] = (moved[after] ?? 0) + 1;
    }
    const total = moved["10.77.0.1:5000"] + moved["10.77.0.2:5000"];
    expect(total).to.be.above(1_800);
    expect(Math.abs(moved["10.77.0.1:5000"] / total - 0.5)).to.be.below(0.04);
  });

  it("keeps every machine's mirror when a new mirror joins, except those the new one takes", () => {
    const grown = [...mirrors, "10.77.0.4:5000"];
    let taken = 0;
    for (const id of syntheticIds(4_000)) {
      const after = assignedMirror(grown, id)!;
      if (after === "10.77.0.4:5000") taken++;
      else expect(after, id).to.equal(assignedMirror(mirrors, id));
    }
    expect(Math.abs(taken / 4_000 - 0.25)).to.be.below(0.04);
  });

  describe("machineIdentity", () => {
    it("hashes /etc/machine-id when there is one", () => {
      const id = machineIdentity({ readMachineId: () => "0123456789abcdef0123456789abcdef\n", hostname: () => "ignored", networkInterfaces: () => ({ en0: [iface("aa:bb:cc:00:11:22")] }) });
      // echo -n "machine-id:0123456789abcdef0123456789abcdef" | sha256sum
      expect(id).to.equal("1ea46a17961f953f2b0d506f783a525db7f3f6d7c22b474ac132aa16af41b62f");
    });

    it("falls back to the host name and sorted hardware addresses, skipping loopback", () => {
      const sources = (interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>) => ({ readMachineId: () => undefined, hostname: () => "Alice-MacBook", networkInterfaces: () => interfaces });
      const id = machineIdentity(sources({ en0: [iface("AA:BB:CC:00:11:22")], lo0: [iface("00:00:00:00:00:00", true)] }));
      // echo -n "host:alice-macbook|mac:aa:bb:cc:00:11:22" | sha256sum
      expect(id).to.equal("d258de314f924f0246f5b7e749cd5da4af10490f5be8ca48c15ce07462175c5b");
      const twoNics = machineIdentity(sources({ en1: [iface("aa:bb:cc:00:11:33")], en0: [iface("aa:bb:cc:00:11:22")] }));
      const reversed = machineIdentity(sources({ en0: [iface("aa:bb:cc:00:11:22")], en1: [iface("aa:bb:cc:00:11:33")] }));
      expect(twoNics).to.equal(reversed);
      expect(twoNics).to.not.equal(id);
    });

    it("is stable on this machine", () => {
      expect(machineIdentity()).to.match(/^[0-9a-f]{64}$/).and.to.equal(machineIdentity());
    });
  });
});
