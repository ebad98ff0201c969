/**
 * daemon.json, the Docker engine's settings file, edited the way a careful person would: only the
 * venue's entry in "insecure-registries" is added, every other byte of the file stays where it was
 * (indentation, line endings, key order), the original is backed up first, and the new file replaces
 * the old one atomically. Undo puts the backup back byte for byte, or, when the file was changed
 * since, takes out only the entries this tool added.
 *
 * Measured with dockerd 20.10: a UTF-8 byte-order mark makes dockerd refuse the file ("invalid
 * character 'ï' looking for beginning of value") at start and on reload, so a BOM is dropped when
 * the file is written. CRLF line endings are accepted and kept.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import { writeFileAtomically } from "./atomic-file";
import { JsonSyntaxError, parseJsonText, UTF8_BOM } from "./json-text";

export const INSECURE_REGISTRIES_KEY = "insecure-registries";
export const BACKUP_SUFFIX = ".venue-backup";
export const RECORD_SUFFIX = ".venue-record.json";

/** The file exists but is not something this tool may edit: broken JSON, or an unexpected shape. */
export class DaemonConfigInvalidError extends Error {
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(`${detail}. Nothing was changed. Fix ${file} (or move it away), then run this command again.`);
    this.name = "DaemonConfigInvalidError";
  }
}

/** The operating system refused to read or write the file. */
export class DaemonConfigPermissionError extends Error {
  constructor(
    readonly file: string,
    readonly operation: "read" | "write",
  ) {
    super(`No permission to ${operation} ${file}.`);
    this.name = "DaemonConfigPermissionError";
  }
}

/** A value for insecure-registries: host[:port] or a CIDR, never a URL. */
export function validateRegistryAddress(address: string): string {
  const trimmed = address.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new Error(`"${address}" has a scheme. Write the registry as host:port, e.g. ${trimmed.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/\/.*$/, "")}`);
  }
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\/\d{1,2})?$/.test(trimmed)) {
    throw new Error(`"${address}" is not a registry address. Write it as host:port, e.g. 192.168.1.20:5000`);
  }
  return trimmed;
}

// ---------------------------------------------------------------------------------------------
// Text surgery on valid JSON: locate members and array elements without re-serialising.
// ---------------------------------------------------------------------------------------------

function skipWhitespace(text: string, index: number): number {
  while (index < text.length && /\s/.test(text[index])) index++;
  return index;
}

function skipString(text: string, index: number): number {
  index++;
  while (index < text.length && text[index] !== '"') index += text[index] === "\\" ? 2 : 1;
  return index + 1;
}

/** Index just after the JSON value starting at `index` (the text is known to be valid JSON). */
function skipValue(text: string, index: number): number {
  const first = text[index];
  if (first === '"') return skipString(text, index);
  if (first === "{" || first === "[") {
    let depth = 0;
    while (index < text.length) {
      const c = text[index];
      if (c === '"') {
        index = skipString(text, index);
        continue;
      }
      if (c === "{" || c === "[") depth++;
      if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) return index + 1;
      }
      index++;
    }
    return index;
  }
  while (index < text.length && !/[\s,\]}]/.test(text[index])) index++;
  return index;
}

interface Member {
  key: string;
  keyStart: number;
  valueStart: number;
  valueEnd: number;
}

function topLevelMembers(text: string): { open: number; close: number; members: Member[] } {
  const open = skipWhitespace(text, 0);
  const members: Member[] = [];
  let index = skipWhitespace(text, open + 1);
  while (text[index] !== "}") {
    const keyStart = index;
    const keyEnd = skipString(text, index);
    const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
    index = skipWhitespace(text, keyEnd) + 1; // the colon
    const valueStart = skipWhitespace(text, index);
    const valueEnd = skipValue(text, valueStart);
    members.push({ key, keyStart, valueStart, valueEnd });
    index = skipWhitespace(text, valueEnd);
    if (text[index] === ",") index = skipWhitespace(text, index + 1);
  }
  return { open, close: index, members };
}

function arrayElementEnds(text: string, arrayStart: number): number[] {
  const ends: number[] = [];
  let index = skipWhitespace(text, arrayStart + 1);
  while (text[index] !== "]") {
    index = skipValue(text, index);
    ends.push(index);
    index = skipWhitespace(text, index);
    if (text[index] === ",") index = skipWhitespace(text, index + 1);
  }
  return ends;
}

function indentationOfLineAt(text: string, index: number): string {
  const lineStart = text.lastIndexOf("\n", index - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart))![0];
}

function detectIndentUnit(text: string): string {
  const match = /\n([ \t]+)\S/.exec(text);
  return match ? match[1] : "  ";
}

function lineEnding(text: string): string {
  return text.includes("\r\n") ? "\r\n" : "\n";
}

// ---------------------------------------------------------------------------------------------
// Merge and removal
// ---------------------------------------------------------------------------------------------

export interface InsecureRegistryMerge {
  /** The new file content (unchanged text when nothing had to be added). */
  text: string;
  changed: boolean;
  /** Entries this merge added, in order. */
  added: string[];
  /** True when the file had no "insecure-registries" key before. */
  createdKey: boolean;
  /** True when a byte-order mark was removed (dockerd refuses files that start with one). */
  droppedBom: boolean;
}

function parseDaemonConfig(text: string, file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseJsonText(text, file);
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      throw new DaemonConfigInvalidError(file, error.message, error.line, error.column);
    }
    throw error;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new DaemonConfigInvalidError(file, `${file} must hold a JSON object ({ ... }), but it holds ${Array.isArray(parsed) ? "a list" : JSON.stringify(parsed)}`);
  }
  const current = (parsed as Record<string, unknown>)[INSECURE_REGISTRIES_KEY];
  if (current !== undefined && (!Array.isArray(current) || current.some((entry) => typeof entry !== "string"))) {
    throw new DaemonConfigInvalidError(file, `"${INSECURE_REGISTRIES_KEY}" in ${file} must be a list of strings, like ["192.168.1.20:5000"]`);
  }
  return parsed as Record<string, unknown>;
}

/** The insecure-registries entries a daemon.json text lists (empty for a missing or empty file). */
export function insecureRegistriesIn(text: string | undefined, file: string): string[] {
  if (text === undefined || text.replace(UTF8_BOM, "").trim() === "") return [];
  return (parseDaemonConfig(text, file)[INSECURE_REGISTRIES_KEY] as string[] | undefined) ?? [];
}

/**
 * Adds registries to insecure-registries by inserting text, so everything else keeps its bytes.
 * `original` undefined means the file does not exist.
 */
export function mergeInsecureRegistries(original: string | undefined, registries: string[], file: string): InsecureRegistryMerge {
  const wanted = registries.map(validateRegistryAddress);
  const droppedBom = original?.startsWith(UTF8_BOM) ?? false;
  const body = droppedBom ? original!.slice(1) : (original ?? "");
  const eol = lineEnding(body);

  if (body.trim() === "") {
    const unique = [...new Set(wanted)];
    const text = `{${eol}  "${INSECURE_REGISTRIES_KEY}": [${unique.map((r) => JSON.stringify(r)).join(", ")}]${eol}}${eol}`;
    return { text, changed: true, added: unique, createdKey: true, droppedBom };
  }

  const config = parseDaemonConfig(body, file);
  const existing = (config[INSECURE_REGISTRIES_KEY] as string[] | undefined) ?? [];
  const known = new Set(existing.map((r) => r.toLowerCase()));
  const added: string[] = [];
  for (const registry of wanted) {
    if (!known.has(registry.toLowerCase())) {
      known.add(registry.toLowerCase());
      added.push(registry);
    }
  }
  if (added.length === 0) {
    return { text: droppedBom ? body : (original ?? ""), changed: droppedBom, added, createdKey: false, droppedBom };
  }
  const quoted = added.map((r) => JSON.stringify(r));
  const { open, close, members } = topLevelMembers(body);
  const member = members.find((m) => m.key === INSECURE_REGISTRIES_KEY);
  let text: string;
  if (member) {
    const ends = arrayElementEnds(body, member.valueStart);
    if (ends.length === 0) {
      text = `${body.slice(0, member.valueStart)}[${quoted.join(", ")}]${body.slice(member.valueEnd)}`;
    } else {
      const last = ends[ends.length - 1];
      const arrayText = body.slice(member.valueStart, member.valueEnd);
      const separator = arrayText.includes("\n") ? `,${eol}${indentationOfLineAt(body, last)}` : ", ";
      text = `${body.slice(0, last)}${quoted.map((q) => `${separator}${q}`).join("")}${body.slice(last)}`;
    }
  } else if (members.length === 0) {
    const indent = detectIndentUnit(body);
    text = `${body.slice(0, open)}{${eol}${indent}"${INSECURE_REGISTRIES_KEY}": [${quoted.join(", ")}]${eol}}${body.slice(close + 1)}`;
  } else {
    const last = members[members.length - 1];
    const objectIsMultiLine = body.slice(open, last.keyStart).includes("\n");
    const separator = objectIsMultiLine ? `,${eol}${indentationOfLineAt(body, last.keyStart)}` : ", ";
    text = `${body.slice(0, last.valueEnd)}${separator}"${INSECURE_REGISTRIES_KEY}": [${quoted.join(", ")}]${body.slice(last.valueEnd)}`;
  }
  return { text, changed: true, added, createdKey: !member, droppedBom };
}

/** Takes entries out of insecure-registries (and the key, when asked and left empty); re-serialises. */
export function removeInsecureRegistries(text: string, registries: string[], removeKeyWhenEmpty: boolean, file: string): string {
  const body = text.startsWith(UTF8_BOM) ? text.slice(1) : text;
  if (body.trim() === "") return text;
  const config = parseDaemonConfig(body, file);
  const existing = config[INSECURE_REGISTRIES_KEY] as string[] | undefined;
  if (!existing) return text;
  const ours = new Set(registries.map((r) => r.toLowerCase()));
  const kept = existing.filter((r) => !ours.has(r.toLowerCase()));
  if (kept.length === existing.length) return text;
  if (kept.length === 0 && removeKeyWhenEmpty) delete config[INSECURE_REGISTRIES_KEY];
  else config[INSECURE_REGISTRIES_KEY] = kept;
  const eol = lineEnding(body);
  const serialised = JSON.stringify(config, null, detectIndentUnit(body)).replace(/\n/g, eol);
  return `${serialised}${/\r?\n\s*$/.test(body) ? eol : ""}`;
}

// ---------------------------------------------------------------------------------------------
// Files: backup, record, atomic write, undo
// ---------------------------------------------------------------------------------------------

/** What configure did, kept next to daemon.json so undo can reverse exactly that. */
export interface ConfigureRecord {
  file: string;
  /** False when configure created daemon.json. */
  existed: boolean;
  /** Entries configure added (over all runs since the backup). */
  added: string[];
  createdKey: boolean;
  /** SHA-256 of what configure last wrote: equal to the file's hash means nobody edited it since. */
  writtenSha256: string;
  configuredAt: string;
}

export function backupFileFor(file: string): string {
  return `${file}${BACKUP_SUFFIX}`;
}

export function recordFileFor(file: string): string {
  return `${file}${RECORD_SUFFIX}`;
}

function sha256(data: Buffer | string): string {
  return crypto.createHash("sha256").update(data).digest("hex");
}

function isPermissionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "EACCES" || code === "EPERM" || code === "EROFS";
}

function readBytes(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (isPermissionError(error)) throw new DaemonConfigPermissionError(file, "read");
    throw error;
  }
}

function writeOrExplain(file: string, content: string | Buffer): void {
  try {
    writeFileAtomically(file, content);
  } catch (error) {
    if (isPermissionError(error)) throw new DaemonConfigPermissionError(file, "write");
    throw error;
  }
}

export function readConfigureRecord(file: string): ConfigureRecord | undefined {
  const bytes = readBytes(recordFileFor(file));
  if (!bytes) return undefined;
  return JSON.parse(bytes.toString("utf8")) as ConfigureRecord;
}

export interface ConfigureResult {
  file: string;
  changed: boolean;
  added: string[];
  /** Every insecure registry the file lists afterwards. */
  insecureRegistries: string[];
  backupFile?: string;
  droppedBom: boolean;
  createdFile: boolean;
}

/** Adds the registries to daemon.json: back up, merge, write atomically, record for undo. */
export function configureDaemonConfig(file: string, registries: string[], now = new Date()): ConfigureResult {
  const originalBytes = readBytes(file);
  const original = originalBytes?.toString("utf8");
  const merge = mergeInsecureRegistries(original, registries, file);
  const insecureRegistries = insecureRegistriesIn(merge.text, file);
  if (!merge.changed) {
    return { file, changed: false, added: [], insecureRegistries, droppedBom: false, createdFile: false };
  }
  const previous = readConfigureRecord(file);
  const backupFile = backupFileFor(file);
  // The first backup is the person's own file; later runs must not overwrite it with our edit.
  if (!previous && originalBytes) writeOrExplain(backupFile, originalBytes);
  writeOrExplain(file, merge.text);
  const record: ConfigureRecord = {
    file,
    existed: previous ? previous.existed : originalBytes !== undefined,
    added: [...new Set([...(previous?.added ?? []), ...merge.added])],
    createdKey: previous ? previous.createdKey : merge.createdKey,
    writtenSha256: sha256(merge.text),
    configuredAt: now.toISOString(),
  };
  writeOrExplain(recordFileFor(file), `${JSON.stringify(record, null, 2)}\n`);
  return {
    file,
    changed: true,
    added: merge.added,
    insecureRegistries,
    backupFile: record.existed ? backupFile : undefined,
    droppedBom: merge.droppedBom,
    createdFile: originalBytes === undefined,
  };
}

/**
 * Before an undo on a daemon that reloads (Linux): when configure created the "insecure-registries"
 * key, write the file once with the key kept but our entries taken out, so a reload clears them;
 * the exact restore then follows without another reload. Returns false when no such step is needed.
 */
export function prepareUndoForReload(file: string): boolean {
  const record = readConfigureRecord(file);
  if (!record || !record.createdKey) return false;
  const current = readBytes(file);
  if (!current || sha256(current) !== record.writtenSha256) return false;
  const text = current.toString("utf8");
  const unwound = removeInsecureRegistries(text, record.added, false, file);
  if (unwound === text) return false;
  writeOrExplain(file, unwound);
  writeOrExplain(recordFileFor(file), `${JSON.stringify({ ...record, writtenSha256: sha256(unwound) }, null, 2)}\n`);
  return true;
}

export type UndoResult =
  | { outcome: "restored"; file: string; from: string }
  | { outcome: "removed-file"; file: string }
  | { outcome: "removed-entries"; file: string; removed: string[] }
  | { outcome: "nothing-to-undo"; file: string };

function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch (error) {
    if (isPermissionError(error)) throw new DaemonConfigPermissionError(file, "write");
    throw error;
  }
}

/**
 * Reverses configure. Untouched since: the backup comes back byte for byte (or the file goes, when
 * configure created it). Edited since: only our entries are taken out, the edits stay.
 */
export function undoDaemonConfig(file: string): UndoResult {
  const record = readConfigureRecord(file);
  if (!record) return { outcome: "nothing-to-undo", file };
  const current = readBytes(file);
  const backupFile = backupFileFor(file);
  let result: UndoResult;
  if (current && sha256(current) === record.writtenSha256) {
    if (record.existed) {
      const backup = readBytes(backupFile);
      if (!backup) throw new Error(`The backup ${backupFile} is missing, so ${file} cannot be restored exactly; remove ${record.added.join(", ")} from it by hand.`);
      writeOrExplain(file, backup);
      result = { outcome: "restored", file, from: backupFile };
    } else {
      removeQuietly(file);
      result = { outcome: "removed-file", file };
    }
  } else if (current) {
    const text = current.toString("utf8");
    const updated = removeInsecureRegistries(text, record.added, record.createdKey, file);
    if (updated !== text) writeOrExplain(file, updated);
    result = { outcome: "removed-entries", file, removed: record.added };
  } else {
    result = { outcome: "removed-entries", file, removed: [] };
  }
  removeQuietly(backupFile);
  removeQuietly(recordFileFor(file));
  return result;
}
