/**
 * How many layers dockerd downloads at once when several pulls run together: per pull, or for the
 * whole engine? The attendee CLI's stall watch (lib/puller.ts, PullWatch) and its default
 * concurrency rest on the answer. Five images, each with its own 2 MiB layer over one shared base,
 * are pulled at the same time through nginx sending 512 kB/s per connection, so every layer stays
 * in flight long enough to be counted; the engine's progress stream says which are "Downloading".
 *
 * Run (as root, it starts a dockerd): node -r ts-node/register/transpile-only bench/download-slots.ts
 */
import { PullProgressMessage } from "../lib/docker-engine";
import { buildFixtureImage, pushFixtures } from "../test/support/fixtures";
import { startNginxInFront } from "../test/support/front-door";
import { engineFor, startDockerd, startRegistry, stopAllServices } from "../test/support/services";

const IMAGES = 5;
const LAYER_ID = /^[0-9a-f]{12}$/;

async function main(): Promise<void> {
  const registry = await startRegistry();
  const images = Array.from({ length: IMAGES }, (_, i) =>
    buildFixtureImage({ repository: `library/slots-${i}`, tag: "1", format: "docker", platforms: ["linux/amd64"], single: true, payloadBytes: 2 * 1024 * 1024, label: `slots-${i}` }),
  );
  await pushFixtures(registry.url, images);
  // In-memory buffering only: the workers cannot write temp files in the test prefix.
  const slow = await startNginxInFront((upstream) => `    location /v2/ { proxy_pass ${upstream}; proxy_max_temp_file_size 0; limit_rate 512k; }`, registry);
  const dockerd = await startDockerd();
  const engine = engineFor(dockerd);

  // A layer shared by several pulls is one download in the engine: count distinct layer ids.
  const layerState = new Map<string, string>();
  let mostAtOnce = 0;
  const started = Date.now();
  const watch = (message: PullProgressMessage) => {
    if (!message.id || !message.status || !LAYER_ID.test(message.id)) return;
    layerState.set(message.id, message.status);
    mostAtOnce = Math.max(mostAtOnce, [...layerState.values()].filter((state) => state === "Downloading").length);
  };
  const timeout = AbortSignal.timeout(120_000);
  await Promise.all(images.map((image) => engine.pull(`${slow.host}/${image.repository}@${image.digest}`, watch, undefined, timeout)));
  const info = await engine.info();
  console.log(`dockerd ${info.ServerVersion ?? "?"}: ${IMAGES} pulls at once, ${layerState.size} distinct layers, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`most layers downloading at the same time: ${mostAtOnce}`);
  console.log(mostAtOnce <= 3 ? "=> the engine-wide limit (max-concurrent-downloads, default 3) holds across pulls, not per pull" : "=> more than 3 at once: the limit is per pull");
}

main()
  .catch((error: unknown) => {
    console.error(`download-slots failed: ${(error as Error).message}`);
    process.exitCode = 1;
  })
  .finally(() => stopAllServices());
