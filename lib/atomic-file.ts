/**
 * Files that readers or their owners depend on (daemon.json, the lock file) are replaced whole:
 * written to a temporary file in the same folder, flushed, then renamed over the original, so a
 * crash or a concurrent reader never sees half a file.
 */
import * as fs from "fs";
import * as path from "path";

export function writeFileAtomically(file: string, content: string | Buffer, mode?: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const handle = fs.openSync(temporary, "w", mode ?? 0o644);
  try {
    fs.writeFileSync(handle, content);
    fs.fsyncSync(handle);
  } finally {
    fs.closeSync(handle);
  }
  try {
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}
