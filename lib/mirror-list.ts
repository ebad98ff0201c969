/**
 * mirrors.json: the venue's serving laptops, published by the primary's front door next to the lock
 * file (/attendee/mirrors.json). `primary` is the venue attendees were told about; `mirrors` are the
 * mirror laptops seeded from it. The attendee CLI spreads itself over all of them
 * (lib/mirror-selection.ts) and fails over between them before it falls back to Docker Hub.
 */
import * as fs from "fs";
import { z } from "zod";
import { writeFileAtomically } from "./atomic-file";
import { parseJsonText } from "./json-text";

export const MIRROR_LIST_SCHEMA_VERSION = 1;
export const MIRROR_LIST_FILE_NAME = "mirrors.json";
/** Where the primary's front door serves it, next to the lock file. */
export const MIRROR_LIST_URL_PATH = `/attendee/${MIRROR_LIST_FILE_NAME}`;

// A DNS name, an IPv4 address or a bracketed IPv6 address, then a port: what attendees type after http://.
const hostPattern = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

/** Why `text` is not a usable host:port, or undefined when it is. */
export function hostPortProblem(text: string): string | undefined {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return `"${text}" must be host:port, e.g. 192.168.1.20:5000`;
  const host = text.slice(0, colon);
  const port = text.slice(colon + 1);
  if (!hostPattern.test(host)) return `"${text}" has no valid host name or address before the port (e.g. 192.168.1.20:5000)`;
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `"${text}" needs a port from 1 to 65535 after the colon`;
  return undefined;
}

const hostPort = z.string().superRefine((value, context) => {
  const problem = hostPortProblem(value);
  if (problem) context.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

const mirrorListSchema = z
  .object({
    schemaVersion: z.literal(MIRROR_LIST_SCHEMA_VERSION),
    primary: hostPort,
    mirrors: z.array(hostPort),
    generatedAt: z.string().datetime({ message: "must be an ISO 8601 time such as 2025-01-31T09:00:00.000Z" }),
  })
  .superRefine((list, context) => {
    const seen = new Set<string>([list.primary.toLowerCase()]);
    list.mirrors.forEach((mirror, index) => {
      const key = mirror.toLowerCase();
      if (seen.has(key)) {
        const what = key === list.primary.toLowerCase() ? "is the primary itself" : "is listed twice";
        context.addIssue({ code: z.ZodIssueCode.custom, path: ["mirrors", index], message: `"${mirror}" ${what}` });
      }
      seen.add(key);
    });
  });

export type MirrorList = z.infer<typeof mirrorListSchema>;

export class MirrorListError extends Error {
  constructor(
    readonly where: string,
    readonly problems: string[],
  ) {
    super(`${where} is not a usable mirror list: ${problems.join("; ")}`);
    this.name = "MirrorListError";
  }
}

export function validateMirrorList(data: unknown, where = MIRROR_LIST_FILE_NAME): MirrorList {
  const result = mirrorListSchema.safeParse(data);
  if (!result.success) {
    throw new MirrorListError(
      where,
      result.error.issues.map((issue) => `${issue.path.join(".") || "(top)"}: ${issue.message}`),
    );
  }
  return result.data;
}

/** Builds a list from what the facilitator configured; refuses bad addresses with every problem at once. */
export function buildMirrorList(primary: string, mirrors: readonly string[], now = new Date()): MirrorList {
  return validateMirrorList(
    { schemaVersion: MIRROR_LIST_SCHEMA_VERSION, primary: primary.trim(), mirrors: mirrors.map((m) => m.trim()), generatedAt: now.toISOString() },
    "the mirror configuration",
  );
}

/** Every laptop that serves the venue, primary first, as the attendee CLI ranks them. */
export function servingRegistries(list: MirrorList): string[] {
  return [list.primary, ...list.mirrors];
}

/** "a, b,,c" -> ["a", "b", "c"]: the form of --mirrors and --registry. */
export function splitAddressList(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

export function parseMirrorListText(text: string, where = MIRROR_LIST_FILE_NAME): MirrorList {
  return validateMirrorList(parseJsonText(text, where), where);
}

export function readMirrorList(file: string): MirrorList {
  return parseMirrorListText(fs.readFileSync(file, "utf8"), file);
}

export function writeMirrorList(file: string, list: MirrorList): void {
  validateMirrorList(list, file);
  writeFileAtomically(file, `${JSON.stringify(list, null, 2)}\n`);
}
