import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { writeFileAtomically } from "../lib/atomic-file";
import { makeTempDir } from "./support/services";

describe("atomic file writes", () => {
  it("replaces the file whole, creating its folder, and leaves no temporary file behind", () => {
    const dir = path.join(makeTempDir("atomic"), "nested");
    const file = path.join(dir, "daemon.json");
    writeFileAtomically(file, '{"a":1}\n');
    const inodeBefore = fs.statSync(file).ino;
    writeFileAtomically(file, '{"a":2}\n', 0o600);
    expect(fs.readFileSync(file, "utf8")).to.equal('{"a":2}\n');
    // A rename, not an in-place write: readers holding the old file keep a whole old file.
    expect(fs.statSync(file).ino).to.not.equal(inodeBefore);
    expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
    expect(fs.readdirSync(dir)).to.deep.equal(["daemon.json"]);
  });

  it("leaves the original untouched and cleans up when the rename cannot happen", () => {
    const dir = makeTempDir("atomic-fail");
    const target = path.join(dir, "is-a-folder");
    fs.mkdirSync(path.join(target, "child"), { recursive: true });
    expect(() => writeFileAtomically(target, "x")).to.throw();
    expect(fs.statSync(target).isDirectory()).to.equal(true);
    expect(fs.readdirSync(dir)).to.deep.equal(["is-a-folder"]);
  });
});
