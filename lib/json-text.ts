/**
 * JSON files that people edit by hand (images.json, daemon.json): a byte-order mark is tolerated,
 * and a syntax error names the file, line and column so the person can find it.
 */
export class JsonSyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    detail: string,
  ) {
    super(`${file} is not valid JSON: ${detail} at line ${line}, column ${column}`);
    this.name = "JsonSyntaxError";
  }
}

export const UTF8_BOM = "\uFEFF";

export function stripBom(text: string): string {
  return text.startsWith(UTF8_BOM) ? text.slice(1) : text;
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, position);
  const lines = before.split(/\r\n|\r|\n/);
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

export function parseJsonText(text: string, file: string): unknown {
  const body = stripBom(text);
  try {
    return JSON.parse(body);
  } catch (error) {
    const message = (error as Error).message;
    const positionMatch = /position (\d+)/.exec(message);
    const lineColumnMatch = /line (\d+) column (\d+)/.exec(message);
    const detail = message.replace(/ in JSON at position \d+.*$/s, "").replace(/^JSON\.parse: /, "");
    if (lineColumnMatch) {
      throw new JsonSyntaxError(file, Number(lineColumnMatch[1]), Number(lineColumnMatch[2]), detail);
    }
    const position = positionMatch ? Number(positionMatch[1]) : body.length;
    const { line, column } = lineAndColumn(body, position);
    throw new JsonSyntaxError(file, line, column, body.trim() === "" ? "the file is empty" : detail);
  }
}
