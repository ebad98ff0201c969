import { expect } from "chai";
import { JsonSyntaxError, parseJsonText } from "../lib/json-text";

function syntaxError(text: string): JsonSyntaxError {
  try {
    parseJsonText(text, "daemon.json");
  } catch (error) {
    expect(error).to.be.instanceOf(JsonSyntaxError);
    return error as JsonSyntaxError;
  }
  throw new Error("expected a syntax error");
}

describe("JSON that people edit", () => {
  it("reads a file with a byte-order mark and CRLF line ends", () => {
    expect(parseJsonText('\uFEFF{\r\n  "debug": true\r\n}\r\n', "daemon.json")).to.deep.equal({ debug: true });
  });

  it("names line and column of a trailing comma, in CRLF files too", () => {
    const error = syntaxError('{\r\n  "debug": true,\r\n}');
    expect([error.line, error.column]).to.deep.equal([3, 1]);
    expect(error.message).to.equal("daemon.json is not valid JSON: a property name in double quotes was expected (a trailing comma?) at line 3, column 1");
  });

  it("names the misspelt word's position", () => {
    const error = syntaxError('{\n  "insecure-registries": ["a:5000"],\n  "debug": tru\n}');
    expect([error.line, error.column]).to.deep.equal([3, 12]);
    expect(error.detail).to.contain("tru instead of true");
  });

  it("refuses comments, a missing comma and an empty file, each with a reason", () => {
    expect(syntaxError('{\n  // mine\n  "a": 1\n}').detail).to.equal("comments are not allowed in JSON");
    const comma = syntaxError('{\n  "a": 1\n  "b": 2\n}');
    expect([comma.line, comma.column, comma.detail]).to.deep.equal([3, 3, "a comma was expected between entries"]);
    expect(syntaxError("  \n").message).to.equal("daemon.json is not valid JSON: the file is empty at line 1, column 1");
  });
});
