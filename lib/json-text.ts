/**
 * JSON files that people edit by hand (images.json, daemon.json): a byte-order mark is tolerated,
 * and a syntax error names the file, line and column so the person can find it. Node's own
 * JSON.parse messages often carry no position, so jsonc-parser locates the first error; JSON.parse
 * still decides what the value is.
 */
import { ParseError, ParseErrorCode, parse as locateErrors } from "jsonc-parser";

export class JsonSyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${file} is not valid JSON: ${detail} at line ${line}, column ${column}`);
    this.name = "JsonSyntaxError";
  }
}

export const UTF8_BOM = "\uFEFF";

export function stripBom(text: string): string {
  return text.startsWith(UTF8_BOM) ? text.slice(1) : text;
}

const EXPLANATIONS: Partial<Record<ParseErrorCode, string>> = {
  [ParseErrorCode.InvalidSymbol]: "unexpected text (a missing quote, or a word such as tru instead of true?)",
  [ParseErrorCode.InvalidNumberFormat]: "a malformed number",
  [ParseErrorCode.PropertyNameExpected]: "a property name in double quotes was expected (a trailing comma?)",
  [ParseErrorCode.ValueExpected]: "a value was expected (a trailing comma, or an unfinished entry?)",
  [ParseErrorCode.ColonExpected]: "a colon was expected after the property name",
  [ParseErrorCode.CommaExpected]: "a comma was expected between entries",
  [ParseErrorCode.CloseBraceExpected]: "a closing } was expected",
  [ParseErrorCode.CloseBracketExpected]: "a closing ] was expected",
  [ParseErrorCode.EndOfFileExpected]: "unexpected text after the end of the JSON value",
  [ParseErrorCode.InvalidCommentToken]: "comments are not allowed in JSON",
  [ParseErrorCode.UnexpectedEndOfComment]: "comments are not allowed in JSON",
  [ParseErrorCode.UnexpectedEndOfString]: "a string is not closed with a double quote",
  [ParseErrorCode.UnexpectedEndOfNumber]: "a number is cut short",
  [ParseErrorCode.InvalidUnicode]: "an invalid \\u escape",
  [ParseErrorCode.InvalidEscapeCharacter]: "an invalid escape after a backslash",
  [ParseErrorCode.InvalidCharacter]: "a control character inside a string",
};

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const lines = text.slice(0, offset).split(/\r\n|\r|\n/);
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

export function parseJsonText(text: string, file: string): unknown {
  const body = stripBom(text);
  if (body.trim() === "") throw new JsonSyntaxError(file, 1, 1, "the file is empty");
  try {
    return JSON.parse(body);
  } catch (error) {
    const errors: ParseError[] = [];
    locateErrors(body, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    const offset = first ? first.offset : body.length;
    const { line, column } = lineAndColumn(body, offset);
    const detail = first ? (EXPLANATIONS[first.error] ?? "a syntax error") : (error as Error).message;
    throw new JsonSyntaxError(file, line, column, detail);
  }
}
