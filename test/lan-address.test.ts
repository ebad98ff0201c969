import { expect } from "chai";
import * as os from "os";
import { chooseAdvertisedAddress, findLanAddresses } from "../lib/lan-address";

const v4 = (address: string, internal = false): os.NetworkInterfaceInfo => ({
  address,
  netmask: "255.255.255.0",
  family: "IPv4",
  mac: "00:00:00:00:00:00",
  internal,
  cidr: `${address}/24`,
});

describe("LAN addresses", () => {
  it("keeps real LAN interfaces, private ranges first, and drops loopback, link-local and virtual bridges", () => {
    const found = findLanAddresses({
      lo0: [v4("127.0.0.1", true)],
      docker0: [v4("172.17.0.1")],
      "br-1234": [v4("172.18.0.1")],
      utun3: [v4("10.8.0.2")],
      en7: [v4("203.0.113.5")],
      en0: [v4("192.168.1.20"), { ...v4("fe80::1"), family: "IPv6" } as os.NetworkInterfaceInfo],
      en5: [v4("169.254.3.3")],
    });
    expect(found).to.deep.equal([
      { interfaceName: "en0", address: "192.168.1.20" },
      { interfaceName: "en7", address: "203.0.113.5" },
    ]);
  });

  it("advertises the configured address, else the first LAN address, else loopback with a warning", () => {
    expect(chooseAdvertisedAddress([{ interfaceName: "en0", address: "192.168.1.20" }], "10.0.0.5")).to.deep.equal({ address: "10.0.0.5" });
    expect(chooseAdvertisedAddress([{ interfaceName: "en0", address: "192.168.1.20" }])).to.deep.equal({ address: "192.168.1.20" });
    const none = chooseAdvertisedAddress([]);
    expect(none.address).to.equal("127.0.0.1");
    expect(none.warning).to.contain("Join the venue's Wi-Fi");
  });
});
