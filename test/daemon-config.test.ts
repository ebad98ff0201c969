import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import {
  backupFileFor,
  configureDaemonConfig,
  DaemonConfigInvalidError,
  DaemonConfigPermissionError,
  mergeInsecureRegistries,
  prepareUndoForReload,
  readConfigureRecord,
  recordFileFor,
  removeInsecureRegistries,
  undoDaemonConfig,
  validateRegistryAddress,
} from "../lib/daemon-config";
import { EngineInfo, isInsecureRegistry } from "../lib/docker-engine";
import { applyDaemonConfig, detectDockerEnvironment, systemProbe } from "../lib/docker-environment";
import { engineFor, makeTempDir, startDockerd, waitFor } from "./support/services";

const VENUE = "venue.test:5000";
const FILE = "/etc/docker/daemon.json";

describe("daemon-config", () => {
  describe("merging insecure-registries", () => {
    const cases: Array<{ name: string; before: string | undefined; after: string; createdKey: boolean; droppedBom?: boolean }> = [
      { name: "missing file", before: undefined, after: `{\n  "insecure-registries": ["${VENUE}"]\n}\n`, createdKey: true },
      { name: "empty file", before: "", after: `{\n  "insecure-registries": ["${VENUE}"]\n}\n`, createdKey: true },
      { name: "white space only, CRLF", before: "\r\n", after: `{\r\n  "insecure-registries": ["${VENUE}"]\r\n}\r\n`, createdKey: true },
      { name: "empty object", before: "{}\n", after: `{\n  "insecure-registries": ["${VENUE}"]\n}\n`, createdKey: true },
      {
        name: "other keys, 4-space indent, nested values",
        before: `{\n    "log-level": "warn",\n    "features": { "buildkit": true },\n    "registry-mirrors": ["https://m.example"]\n}\n`,
        after: `{\n    "log-level": "warn",\n    "features": { "buildkit": true },\n    "registry-mirrors": ["https://m.example"],\n    "insecure-registries": ["${VENUE}"]\n}\n`,
        createdKey: true,
      },
      {
        name: "CRLF line endings stay CRLF",
        before: `{\r\n\t"debug": true\r\n}\r\n`,
        after: `{\r\n\t"debug": true,\r\n\t"insecure-registries": ["${VENUE}"]\r\n}\r\n`,
        createdKey: true,
      },
      {
        name: "BOM is dropped (dockerd 20.10 refuses it)",
        before: `\uFEFF{"debug":true}`,
        after: `{"debug":true, "insecure-registries": ["${VENUE}"]}`,
        createdKey: true,
        droppedBom: true,
      },
      {
        name: "existing multi-line list keeps its layout",
        before: `{\n  "insecure-registries": [\n    "10.0.0.1:5000"\n  ],\n  "debug": false\n}\n`,
        after: `{\n  "insecure-registries": [\n    "10.0.0.1:5000",\n    "${VENUE}"\n  ],\n  "debug": false\n}\n`,
        createdKey: false,
      },
      {
        name: "existing empty list",
        before: `{"insecure-registries": [ ], "debug": false}`,
        after: `{"insecure-registries": ["${VENUE}"], "debug": false}`,
        createdKey: false,
      },
      {
        name: "strings with braces and escaped quotes are not mistaken for structure",
        before: `{"labels": ["a}b", "c\\"]d"]}`,
        after: `{"labels": ["a}b", "c\\"]d"], "insecure-registries": ["${VENUE}"]}`,
        createdKey: true,
      },
    ];
    for (const c of cases) {
      it(`${c.name}: adds the entry and leaves every other byte alone`, () => {
        const merge = mergeInsecureRegistries(c.before, [VENUE], FILE);
        expect(merge.text).to.equal(c.after);
        expect(merge.changed).to.equal(true);
        expect(merge.added).to.deep.equal([VENUE]);
        expect(merge.createdKey).to.equal(c.createdKey);
        expect(merge.droppedBom).to.equal(c.droppedBom ?? false);
        expect(JSON.parse(merge.text)["insecure-registries"]).to.include(VENUE);
      });
    }

    it("already configured: no change, no duplicate (host names compare without case)", () => {
      const before = `{"insecure-registries": ["Venue.Test:5000"]}\n`;
      const merge = mergeInsecureRegistries(before, [VENUE, VENUE], FILE);
      expect(merge).to.deep.equal({ text: before, changed: false, added: [], createdKey: false, droppedBom: false });
    });

    it("adds several registries once each", () => {
      const merge = mergeInsecureRegistries(`{"insecure-registries": ["a.test:5000"]}`, ["a.test:5000", "b.test:5000", "b.test:5000"], FILE);
      expect(merge.text).to.equal(`{"insecure-registries": ["a.test:5000", "b.test:5000"]}`);
    });

    it("refuses invalid JSON and names the line and column", () => {
      const text = `{\n  "debug": true,\n  "log-level": "warn"\n  "x": 1\n}\n`;
      try {
        mergeInsecureRegistries(text, [VENUE], FILE);
        expect.fail("should have refused");
      } catch (error) {
        expect(error).to.be.instanceOf(DaemonConfigInvalidError);
        const invalid = error as DaemonConfigInvalidError;
        expect([invalid.line, invalid.column]).to.deep.equal([4, 3]);
        expect(invalid.message).to.equal(
          `${FILE} is not valid JSON: a comma was expected between entries at line 4, column 3. Nothing was changed. Fix ${FILE} (or move it away), then run this command again.`,
        );
      }
    });

    it("refuses a file that is not an object, and an insecure-registries that is not a list of strings", () => {
      expect(() => mergeInsecureRegistries(`["a"]`, [VENUE], FILE)).to.throw(DaemonConfigInvalidError, `${FILE} must hold a JSON object ({ ... }), but it holds a list`);
      expect(() => mergeInsecureRegistries(`{"insecure-registries": "a:1"}`, [VENUE], FILE)).to.throw(
        DaemonConfigInvalidError,
        `"insecure-registries" in ${FILE} must be a list of strings, like ["192.168.1.20:5000"]`,
      );
    });

    it("never writes a URL: http:// is refused with the host:port to use instead", () => {
      expect(() => validateRegistryAddress("http://192.168.1.20:5000/")).to.throw('"http://192.168.1.20:5000/" has a scheme. Write the registry as host:port, e.g. 192.168.1.20:5000');
      expect(() => mergeInsecureRegistries("{}", ["https://venue.test:5000"], FILE)).to.throw(/has a scheme/);
      expect(() => validateRegistryAddress("venue test")).to.throw('"venue test" is not a registry address. Write it as host:port, e.g. 192.168.1.20:5000');
      expect(validateRegistryAddress(" 10.0.0.0/8 ")).to.equal("10.0.0.0/8");
    });

    it("removes only the given entries, and the key when this tool created it", () => {
      const text = `{\r\n  "debug": true,\r\n  "insecure-registries": ["10.0.0.1:5000", "${VENUE}"]\r\n}\r\n`;
      expect(removeInsecureRegistries(text, [VENUE], true, FILE)).to.equal(`{\r\n  "debug": true,\r\n  "insecure-registries": [\r\n    "10.0.0.1:5000"\r\n  ]\r\n}\r\n`);
      expect(removeInsecureRegistries(`{"debug": true, "insecure-registries": ["${VENUE}"]}`, [VENUE], true, FILE)).to.equal(`{\n  "debug": true\n}`);
      expect(removeInsecureRegistries(`{"insecure-registries": ["${VENUE}"]}`, [VENUE], false, FILE)).to.equal(`{\n  "insecure-registries": []\n}`);
    });
  });

  describe("files: backup, atomic write, undo", () => {
    it("backs up, writes, and undo restores the original bytes exactly (BOM and CRLF included)", () => {
      const dir = makeTempDir("daemon-json");
      const file = path.join(dir, "daemon.json");
      const original = Buffer.from(`\uFEFF{\r\n  "debug": true\r\n}\r\n`, "utf8");
      fs.writeFileSync(file, original);
      const result = configureDaemonConfig(file, [VENUE], new Date("2026-03-01T10:00:00Z"));
      expect(result).to.deep.equal({
        file,
        changed: true,
        added: [VENUE],
        insecureRegistries: [VENUE],
        backupFile: `${file}.venue-backup`,
        droppedBom: true,
        createdFile: false,
      });
      expect(fs.readFileSync(file, "utf8")).to.equal(`{\r\n  "debug": true,\r\n  "insecure-registries": ["${VENUE}"]\r\n}\r\n`);
      expect(fs.readFileSync(backupFileFor(file)).equals(original)).to.equal(true);
      expect(readConfigureRecord(file)).to.include({ existed: true, createdKey: true, configuredAt: "2026-03-01T10:00:00.000Z" });
      // A second run with another registry keeps the first backup (the person's own file).
      configureDaemonConfig(file, ["other.test:5000"]);
      expect(fs.readFileSync(backupFileFor(file)).equals(original)).to.equal(true);
      expect(readConfigureRecord(file)!.added).to.deep.equal([VENUE, "other.test:5000"]);

      expect(undoDaemonConfig(file)).to.deep.equal({ outcome: "restored", file, from: `${file}.venue-backup` });
      expect(fs.readFileSync(file).equals(original)).to.equal(true);
      expect(fs.existsSync(backupFileFor(file))).to.equal(false);
      expect(fs.existsSync(recordFileFor(file))).to.equal(false);
      expect(undoDaemonConfig(file)).to.deep.equal({ outcome: "nothing-to-undo", file });
      expect(fs.readdirSync(dir)).to.deep.equal(["daemon.json"]);
    });

    it("undo removes a daemon.json that configure created", () => {
      const file = path.join(makeTempDir("daemon-json"), "docker", "daemon.json");
      expect(configureDaemonConfig(file, [VENUE]).createdFile).to.equal(true);
      expect(undoDaemonConfig(file)).to.deep.equal({ outcome: "removed-file", file });
      expect(fs.existsSync(file)).to.equal(false);
    });

    it("undo after the person edited the file takes out only our entry and keeps their edit", () => {
      const file = path.join(makeTempDir("daemon-json"), "daemon.json");
      fs.writeFileSync(file, `{"debug": true}\n`);
      configureDaemonConfig(file, [VENUE]);
      const edited = fs.readFileSync(file, "utf8").replace(`"debug": true`, `"debug": false, "log-level": "warn"`);
      fs.writeFileSync(file, edited);
      expect(undoDaemonConfig(file)).to.deep.equal({ outcome: "removed-entries", file, removed: [VENUE] });
      expect(fs.readFileSync(file, "utf8")).to.equal(`{\n  "debug": false,\n  "log-level": "warn"\n}\n`);
    });

    it("already configured: nothing is written and no backup is made", () => {
      const file = path.join(makeTempDir("daemon-json"), "daemon.json");
      fs.writeFileSync(file, `{"insecure-registries": ["${VENUE}"]}`);
      expect(configureDaemonConfig(file, [VENUE]).changed).to.equal(false);
      expect(fs.existsSync(backupFileFor(file))).to.equal(false);
    });

    it("refused invalid JSON leaves the file and writes no backup", () => {
      const file = path.join(makeTempDir("daemon-json"), "daemon.json");
      fs.writeFileSync(file, `{"debug": true,}`);
      expect(() => configureDaemonConfig(file, [VENUE])).to.throw(DaemonConfigInvalidError, "line 1, column 16");
      expect(fs.readFileSync(file, "utf8")).to.equal(`{"debug": true,}`);
      expect(fs.existsSync(backupFileFor(file))).to.equal(false);
    });

    it("a file the system will not let us write is a permission error naming the file", () => {
      // /sys refuses new files even for root, like /etc/docker does for a normal user.
      const file = "/sys/daemon.json";
      try {
        configureDaemonConfig(file, [VENUE]);
        expect.fail("should have been refused");
      } catch (error) {
        expect(error).to.be.instanceOf(DaemonConfigPermissionError);
        expect((error as Error).message).to.equal(`No permission to write ${file}.`);
      }
    });
  });
});

describe("daemon-config with a real dockerd @system", function () {
  this.timeout(120_000);

  it("configure writes the entry, SIGHUP reloads it, docker info shows it; undo is byte-identical and reloads", async () => {
    const original = `{\r\n  "debug": false,\r\n  "max-concurrent-downloads": 3\r\n}\r\n`;
    const dockerd = await startDockerd({ daemonJson: original });
    const engine = engineFor(dockerd);
    expect(isInsecureRegistry(await engine.info(), VENUE)).to.equal(false);

    const env = detectDockerEnvironment(systemProbe(), { info: await engine.info(), endpoint: engine.endpoint, dockerdPidOverride: dockerd.process.pid! });
    expect(env.daemonConfigPath).to.equal(dockerd.configFile);
    expect(env.apply).to.deep.equal({ kind: "signal", pid: dockerd.process.pid });

    configureDaemonConfig(env.daemonConfigPath!, [VENUE]);
    expect(await applyDaemonConfig(env, systemProbe())).to.deep.equal({ kind: "reloaded", how: `sent SIGHUP to dockerd (pid ${dockerd.process.pid})` });
    let info: EngineInfo | undefined;
    await waitFor("dockerd to list the venue as insecure", async () => {
      info = await engine.info();
      return isInsecureRegistry(info, VENUE);
    }, 15_000);
    expect(info!.RegistryConfig!.IndexConfigs![VENUE]).to.deep.include({ Name: VENUE, Secure: false });
    expect(dockerd.docker(["info", "--format", "{{json .RegistryConfig.IndexConfigs}}"])).to.include(`"${VENUE}":{"Name":"${VENUE}","Mirrors":[],"Secure":false`);
    // Reload, not restart: the daemon process is the same.
    expect(dockerd.process.exitCode).to.equal(null);

    // Measured: a reload keeps keys that are absent from the file, so undo first reloads a file that
    // still has the key without our entry, then restores the exact bytes.
    expect(prepareUndoForReload(env.daemonConfigPath!)).to.equal(true);
    expect(fs.readFileSync(dockerd.configFile, "utf8")).to.equal(`{\r\n  "debug": false,\r\n  "max-concurrent-downloads": 3,\r\n  "insecure-registries": []\r\n}\r\n`);
    await applyDaemonConfig(env, systemProbe());
    await waitFor("dockerd to forget the venue", async () => !isInsecureRegistry(await engine.info(), VENUE), 15_000);
    expect(undoDaemonConfig(env.daemonConfigPath!).outcome).to.equal("restored");
    expect(fs.readFileSync(dockerd.configFile, "utf8")).to.equal(original);
    await dockerd.stop();
  });
});
