import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { CredentialsError, DOCKER_HUB_CREDENTIALS_KEY, credentialsKey, dockerConfigDirectory, lookupCredentials } from "../lib/docker-credentials";
import { makeTempDir } from "./support/services";

function configDirectory(config: unknown): string {
  const dir = makeTempDir("docker-config");
  fs.writeFileSync(path.join(dir, "config.json"), typeof config === "string" ? config : JSON.stringify(config));
  return dir;
}

/**
 * A real credential helper program: answers `get` from a table keyed by the server address on
 * stdin, and logs each address it was asked for.
 */
function installHelper(name: string, table: Record<string, { Username: string; Secret: string }>): { env: NodeJS.ProcessEnv; asked: () => string[] } {
  const bin = makeTempDir("helper-bin");
  const log = path.join(bin, "asked.log");
  const program = path.join(bin, `docker-credential-${name}`);
  const cases = Object.entries(table)
    .map(([server, answer]) => `  ${JSON.stringify(server)}) echo '${JSON.stringify({ ServerURL: server, ...answer })}' ;;`)
    .join("\n");
  fs.writeFileSync(program, `#!/bin/sh\n[ "$1" = get ] || exit 3\nread -r server\necho "$server" >> ${log}\ncase "$server" in\n${cases}\n  *) echo "credentials not found in native keychain"; exit 1 ;;\nesac\n`, { mode: 0o755 });
  return {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    asked: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []),
  };
}

describe("docker-credentials", () => {
  it("finds the config folder from DOCKER_CONFIG, else ~/.docker", () => {
    expect(dockerConfigDirectory({ DOCKER_CONFIG: "/x/y" })).to.equal("/x/y");
    expect(dockerConfigDirectory({ HOME: process.env.HOME })).to.match(/\.docker$/);
    expect(credentialsKey("docker.io")).to.equal(DOCKER_HUB_CREDENTIALS_KEY);
    expect(credentialsKey("ghcr.io")).to.equal("ghcr.io");
  });

  it("reads base64 auths, matching Docker Hub's legacy key and scheme-prefixed keys", () => {
    const auth = (text: string): string => Buffer.from(text).toString("base64");
    const dir = configDirectory({
      auths: { "https://index.docker.io/v1/": { auth: auth("hubuser:hub:pass") }, "http://127.0.0.1:5001": { auth: auth("venue:pw") }, "ghcr.io": { identitytoken: "refresh-me" } },
    });
    expect(lookupCredentials("docker.io", { configDirectory: dir })).to.deep.equal({ username: "hubuser", password: "hub:pass", origin: `${dir}/config.json auths["https://index.docker.io/v1/"]` });
    expect(lookupCredentials("127.0.0.1:5001", { configDirectory: dir })?.username).to.equal("venue");
    expect(lookupCredentials("ghcr.io", { configDirectory: dir })).to.deep.equal({ identityToken: "refresh-me", username: undefined, origin: `${dir}/config.json auths["ghcr.io"]` });
    expect(lookupCredentials("quay.io", { configDirectory: dir })).to.equal(undefined);
    expect(lookupCredentials("docker.io", { configDirectory: makeTempDir("empty") })).to.equal(undefined);
  });

  it("names the file when config.json is broken", () => {
    const dir = configDirectory("{ nope");
    expect(() => lookupCredentials("docker.io", { configDirectory: dir })).to.throw(`${dir}/config.json is not valid JSON`);
  });

  describe("with real docker-credential helper programs @system", () => {
    it("asks credHelpers first, then credsStore, then auths", () => {
      const store = installHelper("venuestore", { [DOCKER_HUB_CREDENTIALS_KEY]: { Username: "hubuser", Secret: "hubtoken" } });
      const special = installHelper("venuespecial", { "ghcr.io": { Username: "<token>", Secret: "identity" } });
      const env = { ...process.env, PATH: `${special.env.PATH}:${store.env.PATH}` };
      const dir = configDirectory({ credsStore: "venuestore", credHelpers: { "ghcr.io": "venuespecial" }, auths: { "quay.io": { auth: Buffer.from("q:w").toString("base64") } } });
      expect(lookupCredentials("docker.io", { configDirectory: dir, env })).to.deep.equal({ username: "hubuser", password: "hubtoken", origin: "credential helper docker-credential-venuestore" });
      expect(lookupCredentials("ghcr.io", { configDirectory: dir, env })).to.deep.equal({ identityToken: "identity", origin: "credential helper docker-credential-venuespecial" });
      expect(lookupCredentials("quay.io", { configDirectory: dir, env })?.username).to.equal("q");
      expect(store.asked()).to.deep.equal([DOCKER_HUB_CREDENTIALS_KEY, "quay.io"]);
      expect(special.asked()).to.deep.equal(["ghcr.io"]);
    });

    it("says which helper is missing and how to fix it", () => {
      const dir = configDirectory({ credsStore: "venue-absent" });
      expect(() => lookupCredentials("docker.io", { configDirectory: dir, env: { PATH: "/nonexistent" } })).to.throw(
        CredentialsError,
        'Docker\'s config names the credential helper "venue-absent", but docker-credential-venue-absent is not on PATH. Install it, or remove "venue-absent" from credsStore/credHelpers in config.json and run docker login again.',
      );
    });
  });
});
