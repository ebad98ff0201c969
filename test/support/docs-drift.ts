/**
 * The guard against drift between the docs and the code (test/docs.test.ts).
 *
 * 1. Command lines. Every fenced code line and inline code span in the markdown is searched for
 *    invocations of the attendee CLI (`workshop-attendee ...`, `npx -y http://.../workshop-attendee.tgz ...`),
 *    the facilitator CLI (`npm run venue -- <verb> ...`, `venue <verb> ...`) and the npm scripts
 *    (`npm run X`, `npm test`). Each is parsed by the real yargs parser with a middleware that stops
 *    before any handler runs, or looked up in package.json's scripts.
 * 2. Quoted messages. In any table with a "Message" and a "Printed by" column, every code span in the
 *    Message cell is checked: "venue-registry" messages must appear in the source of lib/, attendee/,
 *    facilitator/ or scripts/; "Docker" messages must be one of DOCKER_MESSAGES. Placeholders such as
 *    `<registry>` or `…` stand for the variable parts.
 */
import * as fs from "fs";
import * as path from "path";
import type { Argv } from "yargs";

export interface DocFile {
  /** Relative to the repository root, as problems name it. */
  file: string;
  text: string;
}

export interface DocProblem {
  kind: "command" | "message";
  file: string;
  line: number;
  /** The command line or message as the doc shows it. */
  quoted: string;
  problem: string;
}

export type CliBuilder = (args: string[]) => Argv;

export interface DriftReferences {
  attendeeCli: CliBuilder;
  venueCli: CliBuilder;
  /** package.json "scripts" names. */
  scripts: ReadonlySet<string>;
  /** Source files whose text the code prints from, already read. */
  sources: ReadonlyArray<{ file: string; text: string }>;
  dockerMessages: ReadonlyArray<string>;
}

/**
 * Docker's own messages (engine, CLI, Docker Hub as Docker relays it) that the docs may quote. Small
 * on purpose: each is what a person actually sees, taken from Docker's output and issue reports.
 */
export const DOCKER_MESSAGES: ReadonlyArray<string> = [
  'Error response from daemon: Get "https://192.168.1.20:5000/v2/": http: server gave HTTP response to HTTPS client',
  "no matching manifest for linux/arm64/v8 in the manifest list entries",
  "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
  "toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit",
  "write /var/lib/docker/tmp/GetImageBlob123: no space left on device",
  "driver failed programming external connectivity on endpoint venue-frontdoor: Bind for 0.0.0.0:5000 failed: port is already allocated",
  "Error starting userland proxy: listen tcp4 0.0.0.0:5000: bind: address already in use",
  "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
  "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
  "received unexpected HTTP status: 502 Bad Gateway",
  "Up 3 minutes (unhealthy)",
];

// ---------------------------------------------------------------------------------------------
// Markdown: code snippets and tables
// ---------------------------------------------------------------------------------------------

export interface Snippet {
  line: number;
  text: string;
  fenced: boolean;
}

const FENCE = /^(\s*)(`{3,}|~{3,})/;

/** Fenced code lines (continuations joined) and inline code spans outside fences. */
export function codeSnippets(markdown: string): Snippet[] {
  const lines = markdown.split(/\r?\n/);
  const snippets: Snippet[] = [];
  const prose: string[] = [];
  let fence: { marker: string; indent: number } | undefined;
  let previousFenced: Snippet | undefined;
  lines.forEach((line, index) => {
    // Code blocks inside block quotes (a slide's text) are code blocks too.
    const raw = line.replace(/^\s*(?:>\s?)+/, "");
    const match = FENCE.exec(raw);
    if (fence) {
      prose.push("");
      if (match && match[2][0] === fence.marker[0] && match[2].length >= fence.marker.length && raw.trim() === match[2]) {
        fence = undefined;
        previousFenced = undefined;
        return;
      }
      const text = raw.slice(Math.min(fence.indent, raw.length - raw.trimStart().length));
      // A synopsis continues on indented lines of options, or after a trailing backslash.
      const continues = previousFenced && (/\\\s*$/.test(previousFenced.text) || (/^\s+/.test(text) && /^[[-]/.test(text.trim())));
      if (continues && previousFenced) {
        previousFenced.text = `${previousFenced.text.replace(/\\\s*$/, "")} ${text.trim()}`;
        return;
      }
      if (text.trim() === "") {
        previousFenced = undefined;
        return;
      }
      previousFenced = { line: index + 1, text, fenced: true };
      snippets.push(previousFenced);
      return;
    }
    if (match) {
      fence = { marker: match[2], indent: match[1].length };
      prose.push("");
      return;
    }
    prose.push(line);
  });
  const text = prose.join("\n");
  // Code spans: a run of n backticks up to the next run of exactly n, not across a blank line.
  const opener = /(`+)/g;
  let found: RegExpExecArray | null;
  while ((found = opener.exec(text))) {
    const ticks = found[1];
    const start = found.index + ticks.length;
    const closer = new RegExp(`(?<!\`)${ticks}(?!\`)`, "g");
    closer.lastIndex = start;
    const end = closer.exec(text);
    if (!end || text.slice(start, end.index).includes("\n\n")) continue;
    let content = text.slice(start, end.index).replace(/\n/g, " ");
    if (/^ .* $/.test(content)) content = content.slice(1, -1);
    const line = text.slice(0, found.index).split("\n").length;
    snippets.push({ line, text: content, fenced: false });
    opener.lastIndex = end.index + ticks.length;
  }
  return snippets.sort((a, b) => a.line - b.line);
}

export interface TableRow {
  line: number;
  cells: Record<string, string>;
}

/** Rows of every pipe table, keyed by the header cells (lowercased). */
export function markdownTables(markdown: string): TableRow[][] {
  const lines = markdown.split(/\r?\n/);
  const tables: TableRow[][] = [];
  const split = (line: string): string[] =>
    line
      .trim()
      .replace(/^\|/, "")
      .replace(/\|$/, "")
      .split(/(?<!\\)\|/)
      .map((cell) => cell.replace(/\\\|/g, "|").trim());
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!/^\s*\|/.test(lines[i]) || !/^\s*\|?\s*:?-{3,}/.test(lines[i + 1])) continue;
    const headers = split(lines[i]).map((h) => h.toLowerCase());
    const rows: TableRow[] = [];
    let j = i + 2;
    for (; j < lines.length && /^\s*\|/.test(lines[j]); j++) {
      const cells = split(lines[j]);
      rows.push({ line: j + 1, cells: Object.fromEntries(headers.map((h, k) => [h, cells[k] ?? ""])) });
    }
    tables.push(rows);
    i = j - 1;
  }
  return tables;
}

// ---------------------------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------------------------

export type InvocationKind = "attendee" | "venue" | "npm-script";

export interface Invocation {
  kind: InvocationKind;
  line: number;
  quoted: string;
  /** Arguments for the parser (attendee, venue) or the script name (npm-script). */
  args: string[];
  /**
   * Only a mention (an inline span in a sentence, or no flags at all), like "`venue mirror --seed-from`":
   * unknown commands and flags are still problems, missing required options are not.
   */
  mention: boolean;
}

/** Splits like a shell does for the simple cases docs show: quotes, no expansions. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text))) words.push(match[1] ?? match[2] ?? match[3]);
  return words;
}

/** What a `<placeholder>` becomes: a value for an option, or nothing to check in a command's place. */
export const PLACEHOLDER_ARG = "_placeholder_";

/** Synopsis notation out: `[--x <v>]...` becomes `--x _placeholder_`; lone `...`, `…` and `|` go. */
export function synopsisArgs(words: string[]): string[] {
  return words
    .map((word) => word.replace(/^\[+/, "").replace(/\]+(\.\.\.|…)?$/, "").replace(/<[^<>]+>/g, PLACEHOLDER_ARG))
    .filter((word) => word !== "" && word !== "..." && word !== "…" && word !== "|");
}

/** Where a command written inside a sentence or a message ends. */
function commandText(rest: string): string {
  return rest
    .split(/\s{2,}|\s#\s|&&|\|\||;|\s\|\s/)[0]
    .trim()
    .replace(/[.,;:)]+$/, "");
}

const ATTENDEE = /(?:^|[\s(:"'=])((?:sudo\s+)?(?:npx\s+(?:(?:-y|--yes)\s+)?)?(?:https?:\/\/[^\s/]+(?:\/[^\s/]+)*\/workshop-attendee\.tgz|workshop-attendee))(?=\s|$)/g;
const NPM = /(?:^|[\s(:"'])npm\s+((?:-\S+\s+)*)(run-script|run|test|t|ci|install|i)\b([^\n]*)/g;
const VENUE_SCRIPT = /(?:^|[\s(:"'])(?:node\s+(?:-r\s+\S+\s+)*facilitator\/venue\.ts)\s+([^\n]*)/g;

/** Every CLI and npm-script invocation in one snippet of code. */
export function invocationsIn(snippet: Snippet): Invocation[] {
  const found: Invocation[] = [];
  const text = snippet.text.replace(/^\s*[$>]\s+/, "");
  const isMention = (args: string[]) => !snippet.fenced || !args.some((a) => a.startsWith("-"));
  for (const match of text.matchAll(ATTENDEE)) {
    const after = commandText(text.slice(match.index! + match[0].length));
    const args = synopsisArgs(shellWords(after));
    found.push({ kind: "attendee", line: snippet.line, quoted: `${match[1]} ${after}`.trim(), args, mention: isMention(args) });
  }
  for (const match of text.matchAll(NPM)) {
    const verb = match[2];
    const rest = commandText(match[3]);
    if (verb === "ci" || verb === "install" || verb === "i") continue;
    const words = synopsisArgs(shellWords(rest));
    const script = verb === "test" || verb === "t" ? "test" : words.find((w) => !w.startsWith("-"));
    const quoted = `npm ${match[1]}${verb} ${rest}`.replace(/\s+/g, " ").trim();
    if (!script) {
      found.push({ kind: "npm-script", line: snippet.line, quoted, args: [""], mention: false });
      continue;
    }
    found.push({ kind: "npm-script", line: snippet.line, quoted, args: [script], mention: false });
    const dashes = words.indexOf("--");
    if (script === "venue" && dashes >= 0) {
      const args = words.slice(dashes + 1);
      found.push({ kind: "venue", line: snippet.line, quoted, args, mention: isMention(args) });
    }
  }
  for (const match of text.matchAll(VENUE_SCRIPT)) {
    const args = synopsisArgs(shellWords(commandText(match[1])));
    found.push({ kind: "venue", line: snippet.line, quoted: match[0].trim(), args, mention: isMention(args) });
  }
  // `venue <verb> ...` as the architecture notes write the facilitator's verbs.
  const bare = /^venue\s+([a-z][a-z-]*)(?=\s|$)(.*)$/.exec(text.trim());
  if (bare) {
    const args = synopsisArgs(shellWords(commandText(`${bare[1]}${bare[2]}`)));
    found.push({ kind: "venue", line: snippet.line, quoted: text.trim(), args, mention: isMention(args) });
  }
  return found;
}

/**
 * The attendee pages list the CLI's commands and options in tables whose first column is "command"
 * or "option": each code span there (`configure`, `--registry host:port`) is checked as an attendee
 * command line too, so a renamed command or flag in a table fails like one in a code block.
 */
export function attendeeTableInvocations(doc: DocFile): Invocation[] {
  if (!/^docs\/attendee\//.test(doc.file.replace(/\\/g, "/"))) return [];
  const found: Invocation[] = [];
  for (const table of markdownTables(doc.text)) {
    const first = Object.keys(table[0]?.cells ?? {})[0];
    if (first !== "command" && first !== "option") continue;
    for (const row of table) {
      for (const span of codeSpansOf(row.cells[first])) {
        // Spans that name the CLI themselves are found by invocationsIn.
        if ((first === "option" && !span.startsWith("-")) || span.includes("workshop-attendee")) continue;
        found.push({ kind: "attendee", line: row.line, quoted: span, args: synopsisArgs(shellWords(span)), mention: true });
      }
    }
  }
  return found;
}

const STOP = "__docs_drift_parsed__";

/** The problems yargs reports for these arguments; no command handler runs. */
export async function parserErrors(build: CliBuilder, args: string[]): Promise<string[]> {
  const errors: string[] = [];
  const record = (message: string | undefined) => {
    if (message && !message.includes(STOP)) errors.push(message);
  };
  const parser = build(args)
    .exitProcess(false)
    .fail((message, error) => record(message ?? error?.message))
    // Runs after validation and before the handler: a command line that gets here is valid.
    .middleware(() => {
      throw new Error(STOP);
    }, false);
  try {
    // With a callback yargs keeps --help and --version output to itself.
    await parser.parseAsync(args, {}, (error: Error | undefined) => record(error?.message));
  } catch (error) {
    record((error as Error).message);
  }
  return [...new Set(errors)];
}

async function checkInvocation(invocation: Invocation, refs: DriftReferences): Promise<string | undefined> {
  if (invocation.kind === "npm-script") {
    const script = invocation.args[0];
    if (!script) return "names no npm script";
    if (script === PLACEHOLDER_ARG) return undefined;
    return refs.scripts.has(script) ? undefined : `npm script "${script}" does not exist in package.json`;
  }
  // A placeholder verb (`npm run venue -- <verb>`) names no command to check.
  if (invocation.kind === "venue" && (invocation.args.length === 0 || invocation.args[0] === PLACEHOLDER_ARG)) return undefined;
  const build = invocation.kind === "attendee" ? refs.attendeeCli : refs.venueCli;
  let errors = await parserErrors(build, invocation.args);
  if (invocation.mention) errors = errors.filter((e) => !/^Missing required argument/.test(e));
  const cli = invocation.kind === "attendee" ? "the attendee CLI (attendee/cli.ts)" : "the facilitator CLI (facilitator/venue.ts)";
  return errors.length > 0 ? `${cli} rejects it: ${errors.join("; ")}` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

const PLACEHOLDER = /<[^<>\s][^<>]*>|…|\.\.\./;

/** Whitespace collapsed; string concatenations and escapes in source undone. */
export function normaliseSource(text: string): string {
  return text
    .replace(/(["'`])\s*\+\s*\1/g, "")
    .replace(/\\n/g, " ")
    .replace(/\\(["'`\\])/g, "$1")
    .replace(/\s+/g, " ");
}

/** The literal parts of a quoted message, between its placeholders. */
export function messageFragments(quoted: string): string[] {
  return quoted
    .replace(/^[✖✔⠋\s]+/, "")
    .replace(/\s+/g, " ")
    .split(new RegExp(PLACEHOLDER.source, "g"))
    .map((fragment) => fragment.trim())
    .filter((fragment) => fragment !== "");
}

/** True when every fragment occurs in the text, in order. */
export function fragmentsOccurIn(fragments: string[], text: string): boolean {
  let from = 0;
  for (const fragment of fragments) {
    const at = text.indexOf(fragment, from);
    if (at < 0) return false;
    from = at + fragment.length;
  }
  return true;
}

const PRINTERS = ["venue-registry", "docker"] as const;
const NOBODY = new Set(["", "-", "—", "–", "nothing", "none"]);

function codeSpansOf(cell: string): string[] {
  return codeSnippets(cell).map((s) => s.text);
}

function checkMessageRows(doc: DocFile, refs: DriftReferences, sources: Array<{ file: string; text: string }>): { problems: DocProblem[]; checked: number } {
  const problems: DocProblem[] = [];
  let checked = 0;
  const dockerTexts = refs.dockerMessages.map((m) => m.replace(/\s+/g, " "));
  for (const table of markdownTables(doc.text)) {
    if (table.length === 0 || !("message" in table[0].cells) || !("printed by" in table[0].cells)) continue;
    for (const row of table) {
      const printer = row.cells["printed by"].replace(/[`*_]/g, "").trim().toLowerCase();
      const messages = codeSpansOf(row.cells.message);
      const report = (quoted: string, problem: string) => problems.push({ kind: "message", file: doc.file, line: row.line, quoted, problem });
      if (NOBODY.has(printer)) {
        for (const message of messages) report(message, 'quotes a message but "Printed by" names nobody');
        continue;
      }
      if (!(PRINTERS as readonly string[]).includes(printer)) {
        report(row.cells["printed by"], `"Printed by" must be one of ${PRINTERS.join(", ")} or — (nothing printed)`);
        continue;
      }
      if (messages.length === 0) report(row.cells.message, `"Printed by" is ${printer} but the Message cell quotes nothing in backticks`);
      for (const message of messages) {
        const fragments = messageFragments(message);
        checked++;
        if (fragments.join("").length < 8) {
          report(message, "quotes too little to check (mostly placeholders)");
          continue;
        }
        if (printer === "venue-registry") {
          if (!sources.some((source) => fragmentsOccurIn(fragments, source.text))) {
            report(message, "no source file in lib/, attendee/, facilitator/ or scripts/ prints this message");
          }
        } else if (!dockerTexts.some((text) => fragmentsOccurIn(fragments, text))) {
          report(message, "is not one of Docker's messages listed in test/support/docs-drift.ts (DOCKER_MESSAGES)");
        }
      }
    }
  }
  return { problems, checked };
}

// ---------------------------------------------------------------------------------------------
// The whole check
// ---------------------------------------------------------------------------------------------

export interface DriftReport {
  problems: DocProblem[];
  invocations: Array<Invocation & { file: string }>;
  messagesChecked: number;
}

export async function checkDocs(docs: DocFile[], refs: DriftReferences): Promise<DriftReport> {
  const problems: DocProblem[] = [];
  const invocations: Array<Invocation & { file: string }> = [];
  const sources = refs.sources.map((s) => ({ file: s.file, text: normaliseSource(s.text) }));
  let messagesChecked = 0;
  for (const doc of docs) {
    const documented = [...codeSnippets(doc.text).flatMap(invocationsIn), ...attendeeTableInvocations(doc)];
    for (const invocation of documented) {
      invocations.push({ ...invocation, file: doc.file });
      const problem = await checkInvocation(invocation, refs);
      if (problem) problems.push({ kind: "command", file: doc.file, line: invocation.line, quoted: invocation.quoted, problem });
    }
    const messages = checkMessageRows(doc, refs, sources);
    problems.push(...messages.problems);
    messagesChecked += messages.checked;
  }
  return { problems, invocations, messagesChecked };
}

/**
 * Whether a quoted message is printed by the code or is one of Docker's: the same test the tables
 * get, for text that is not in markdown (the projector slide's symptoms).
 */
export function messageIsKnown(quoted: string, refs: DriftReferences): boolean {
  const fragments = messageFragments(quoted);
  if (fragments.join("").length < 8) return false;
  const texts = [...refs.sources.map((s) => normaliseSource(s.text)), ...refs.dockerMessages.map((m) => m.replace(/\s+/g, " "))];
  return texts.some((text) => fragmentsOccurIn(fragments, text));
}

export function formatProblems(problems: DocProblem[]): string {
  return problems.map((p) => `${p.file}:${p.line}: ${p.quoted}\n    ${p.problem}`).join("\n");
}

// ---------------------------------------------------------------------------------------------
// The repository's own docs and code
// ---------------------------------------------------------------------------------------------

function filesUnder(dir: string, pattern: RegExp): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(full, pattern);
    return pattern.test(entry.name) ? [full] : [];
  });
}

/** README.md and every markdown file under docs/, found afresh on each run. */
export function repositoryDocs(root: string): DocFile[] {
  const files = [path.join(root, "README.md"), ...filesUnder(path.join(root, "docs"), /\.md$/).sort()];
  return files.filter((f) => fs.existsSync(f)).map((f) => ({ file: path.relative(root, f), text: fs.readFileSync(f, "utf8") }));
}

/** The TypeScript that prints what users read. */
export function messageSources(root: string): Array<{ file: string; text: string }> {
  return ["lib", "attendee", "facilitator", "scripts"]
    .flatMap((dir) => filesUnder(path.join(root, dir), /\.ts$/))
    .map((f) => ({ file: path.relative(root, f), text: fs.readFileSync(f, "utf8") }));
}

export function packageScripts(root: string): Set<string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts?: Record<string, string> };
  return new Set(Object.keys(pkg.scripts ?? {}));
}
