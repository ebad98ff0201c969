/**
 * A token issuer owned by the tests, for a real docker-registry configured with `auth: token`. It
 * signs RS256 JWTs with a self-signed certificate (made by openssl) that the registry trusts through
 * `rootcertbundle`, puts the certificate in the token's x5c header, and grants the actions asked for
 * to users who give the right password (anonymous users get the actions it is told to allow).
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { makeTempDir, requireProgram } from "./services";

export interface TokenIssuer {
  /** The realm the registry sends clients to. */
  realm: string;
  service: string;
  issuer: string;
  certificateFile: string;
  /** YAML to append to the registry config (`extraConfig` of startRegistry). */
  registryConfig: string;
  /** Every scope asked for, and by whom ("" for anonymous), in order. */
  requests: Array<{ user: string; scopes: string[] }>;
  stop(): Promise<void>;
}

export interface TokenIssuerOptions {
  /** user -> password. */
  users: Record<string, string>;
  /** Actions anonymous clients get on every repository (none by default). */
  anonymousActions?: string[];
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64").replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

export async function startTokenIssuer(options: TokenIssuerOptions): Promise<TokenIssuer> {
  requireProgram("openssl", "openssl");
  const dir = makeTempDir("token-issuer");
  const keyFile = path.join(dir, "key.pem");
  const certificateFile = path.join(dir, "cert.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certificateFile, "-days", "1", "-subj", "/CN=venue-test-token-issuer"], {
    stdio: "pipe",
  });
  const privateKey = crypto.createPrivateKey(fs.readFileSync(keyFile));
  const certificateDer = fs
    .readFileSync(certificateFile, "utf8")
    .replace(/-----(BEGIN|END) CERTIFICATE-----/g, "")
    .replace(/\s+/g, "");
  const service = "venue-test-registry";
  const issuer = "venue-test-issuer";
  const requests: TokenIssuer["requests"] = [];

  const sign = (user: string, access: Array<{ type: string; name: string; actions: string[] }>): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [certificateDer] };
    const claims = { iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 30, iat: now, jti: crypto.randomUUID(), access };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    return `${input}.${base64url(crypto.sign("RSA-SHA256", Buffer.from(input), privateKey))}`;
  };

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const scopes = url.searchParams.getAll("scope");
    let user = "";
    const authorization = request.headers.authorization;
    if (authorization?.startsWith("Basic ")) {
      const [name, ...rest] = Buffer.from(authorization.slice(6), "base64").toString("utf8").split(":");
      if (options.users[name] !== rest.join(":")) {
        response.writeHead(401, { "Content-Type": "application/json" });
        response.end(JSON.stringify({ details: "wrong user name or password" }));
        return;
      }
      user = name;
    }
    requests.push({ user, scopes });
    const access = scopes.map((scope) => {
      const [type, ...middle] = scope.split(":");
      const actions = middle.pop()!.split(",");
      const name = middle.join(":");
      const granted = user ? actions : actions.filter((a) => (options.anonymousActions ?? []).includes(a));
      return { type, name, actions: granted };
    });
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end(JSON.stringify({ token: sign(user, access), expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const realm = `http://127.0.0.1:${port}/token`;
  const registryConfig = ["auth:", "  token:", `    realm: ${realm}`, `    service: ${service}`, `    issuer: ${issuer}`, `    rootcertbundle: ${certificateFile}`, ""].join("\n");
  return {
    realm,
    service,
    issuer,
    certificateFile,
    registryConfig,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
