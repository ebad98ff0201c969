import { expect } from "chai";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { activeDownloads, fetchStubStatus, parseStubStatus, StubStatusFormatError } from "../lib/stub-status";
import { sparseFile } from "./support/fixtures";
import { freePort, makeTempDir, startNginx, waitFor } from "./support/services";

const SAMPLE = "Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n";

describe("stub status", () => {
  it("parses every counter of nginx's page", () => {
    expect(parseStubStatus(SAMPLE)).to.deep.equal({
      active: 291,
      accepts: 16630948,
      handled: 16630948,
      requests: 31070465,
      reading: 6,
      writing: 179,
      waiting: 106,
    });
  });

  it("refuses a page that is not stub_status, saying what to check", () => {
    expect(() => parseStubStatus("<html>404 Not Found</html>")).to.throw(StubStatusFormatError, /is the URL right, and is stub_status enabled/);
  });

  it("counts downloads as writing connections minus its own request and long-lived ones, never below zero", () => {
    const status = parseStubStatus(SAMPLE);
    expect(activeDownloads(status)).to.equal(178);
    expect(activeDownloads(status, 1, 3)).to.equal(175);
    expect(activeDownloads({ ...status, writing: 1 }, 1, 2)).to.equal(0);
  });

  it("says 'connection refused' when nothing listens", async () => {
    const port = await freePort();
    let failure: Error | undefined;
    await fetchStubStatus(`http://127.0.0.1:${port}/stub_status`).catch((e: Error) => (failure = e));
    expect(failure?.message).to.equal(`nginx stub_status at http://127.0.0.1:${port}/stub_status did not answer: connection refused (nothing listening there)`);
  });
});

describe("stub status against a real nginx @system", () => {
  let statusUrl: string;
  let downloadUrl: string;

  before(async () => {
    const prefix = makeTempDir("stub-nginx");
    const files = path.join(prefix, "files");
    fs.mkdirSync(files);
    // Far larger than loopback socket buffers (up to 32 MiB here), so a paused reader holds it open.
    sparseFile(path.join(files, "big.bin"), 256 << 20);
    // nginx's workers run as nobody when the tests run as root.
    fs.chmodSync(prefix, 0o755);
    fs.chmodSync(files, 0o755);
    const [statusPort, filePort] = [await freePort(), await freePort()];
    const config = `
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp-body;
  proxy_temp_path ${prefix}/tmp-proxy;
  fastcgi_temp_path ${prefix}/tmp-fastcgi;
  uwsgi_temp_path ${prefix}/tmp-uwsgi;
  scgi_temp_path ${prefix}/tmp-scgi;
  sendfile on;
  server { listen 127.0.0.1:${filePort}; root ${files}; }
  server { listen 127.0.0.1:${statusPort}; location = /stub_status { stub_status; allow 127.0.0.1; deny all; } }
}
`;
    statusUrl = `http://127.0.0.1:${statusPort}/stub_status`;
    downloadUrl = `http://127.0.0.1:${filePort}/big.bin`;
    await startNginx(config, statusUrl, prefix);
  });

  it("reads the real page: only its own request is being written", async () => {
    await waitFor("nginx to settle to the status request alone", async () => (await fetchStubStatus(statusUrl)).active === 1);
    const status = await fetchStubStatus(statusUrl);
    expect({ active: status.active, reading: status.reading, writing: status.writing, waiting: status.waiting }).to.deep.equal({
      active: 1,
      reading: 0,
      writing: 1,
      waiting: 0,
    });
    expect(activeDownloads(status)).to.equal(0);
  });

  it("sees a download held open by a paused reader as active, and not after it ends", async () => {
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = http.get(downloadUrl, { localAddress: "127.0.0.2", agent: false }, resolve);
      request.on("error", reject);
    });
    response.pause();
    try {
      expect(response.statusCode).to.equal(200);
      await waitFor("the paused download to show", async () => activeDownloads(await fetchStubStatus(statusUrl)) === 1, 10_000);
      // Still there a moment later: held open, not a request that merely has not finished yet.
      await new Promise((r) => setTimeout(r, 300));
      expect(activeDownloads(await fetchStubStatus(statusUrl))).to.equal(1);
    } finally {
      response.destroy();
    }
    await waitFor("the download to end", async () => activeDownloads(await fetchStubStatus(statusUrl)) === 0, 10_000);
  });
});
