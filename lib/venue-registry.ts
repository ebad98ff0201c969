/**
 * VenueRegistry: the whole venue on the facilitator's laptop, as one Pulumi component.
 *
 * Declarative only: what runs inside the containers and commands (registry config, nginx config,
 * mirroring, verification, monitoring) is lib/ code that the tests run for real.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { ImageListEntry, platformsFor } from "./image-list";
import { familiarImageName } from "./image-reference";
import { MIRROR_LIST_FILE_NAME } from "./mirror-list";
import { frontDoorContainerOptions, renderNginxConfig } from "./nginx-config";
import { VENUE_CONTAINERS_BY_ROLE } from "./preflight";
import { renderRegistryConfig } from "./registry-config";
import { LOCK_FILE_NAME } from "./venue-lock";
import { VenueSettings } from "./venue-settings";

export interface VenueRegistryArgs {
  settings: VenueSettings;
  images: ImageListEntry[];
  /** The project folder: commands run there and the monitor mounts it. */
  projectDir: string;
  /** The address on the projector, e.g. 192.168.1.20. */
  advertisedAddress: string;
  /** Every LAN address of the laptop. */
  lanAddresses: string[];
}

export interface VenueImageOutput {
  source: string;
  target: string;
  /** What an attendee could `docker pull` by hand. */
  venueName: string;
  platforms: string[];
}

/** Fixed names: Pulumi replaces them delete-first, and the nginx config and docs refer to them. */
export const VENUE_NAMES = {
  network: "venue-net",
  dataVolume: "venue-registry-data",
  logsVolume: "venue-logs",
  writer: VENUE_CONTAINERS_BY_ROLE.writer,
  replica: (index: number) => `venue-replica-${index}`,
  frontDoor: VENUE_CONTAINERS_BY_ROLE.frontDoor,
  monitor: "venue-monitor",
} as const;

/** Paths inside the containers. */
const IN_CONTAINER = {
  registryData: "/var/lib/registry",
  registryConfig: "/etc/docker/registry/config.yml",
  logs: "/var/log/venue",
  attendeeDir: "/srv/venue/attendee",
  nginxConfig: "/etc/nginx/nginx.conf",
  project: "/app",
} as const;

const REGISTRY_PORT = 5000;
const FRONT_DOOR_PORT = 8080;
const STUB_STATUS_PORT = 8081;
const MONITOR_PORT = 8080;
/** The workshop-local state folder in the project (gitignored). */
export const STATE_DIR = ".venue";
// Forward slashes on every system (node takes them on Windows too), so these need no quoting there.
export const LOCK_DIR = path.posix.join(STATE_DIR, "locks");
export const ATTENDEE_DIR = path.posix.join(STATE_DIR, "www", "attendee");
export const ATTENDEE_PACKAGE = "workshop-attendee.tgz";

/** Every long-running container: checked every 30 s, restarted unless the facilitator stopped it. */
function healthcheck(url: string): docker.types.input.ContainerHealthcheck {
  return {
    tests: ["CMD", "wget", "-q", "-O", "/dev/null", url],
    interval: "30s",
    timeout: "5s",
    retries: 3,
    startPeriod: "10s",
  };
}

const RESTART_POLICY = "unless-stopped";

/**
 * A facilitator verb as one command line, run with the project's own TypeScript as the README's
 * commands do, and quoted for the shell @pulumi/command runs it with:
 * `/bin/sh -c` on macOS and Linux, `cmd /C` on Windows (its documented defaults). cmd.exe knows no
 * single quotes, so there an argument is double-quoted, with inner quotes and trailing backslashes
 * escaped the way Windows programs (node among them) split their command line.
 */
export function venueVerb(args: string[], platform: NodeJS.Platform = process.platform): string {
  const quote =
    platform === "win32"
      ? (a: string) => `"${a.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, "$1$1")}"`
      : (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const quoted = args.map((a) => (/^[A-Za-z0-9_./:,@=-]+$/.test(a) ? a : quote(a)));
  return ["node", "-r", "ts-node/register/transpile-only", "facilitator/venue.ts", ...quoted].join(" ");
}

function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").toLowerCase();
}

export class VenueRegistry extends pulumi.ComponentResource {
  /** http://LAN-IP:PORT */
  public readonly registryUrl: pulumi.Output<string>;
  /** LAN-IP:PORT, as image names and daemon.json write it. */
  public readonly registryHost: pulumi.Output<string>;
  public readonly lanUrls: pulumi.Output<string[]>;
  public readonly dashboardUrl: pulumi.Output<string>;
  public readonly slidesUrl: pulumi.Output<string>;
  public readonly attendeeCommand: pulumi.Output<string>;
  public readonly images: pulumi.Output<VenueImageOutput[]>;
  public readonly lockFile: pulumi.Output<string>;

  constructor(name: string, args: VenueRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("venue:index:VenueRegistry", name, {}, opts);
    const { settings, images, projectDir } = args;
    const child = { parent: this };
    const registryHost = `${args.advertisedAddress}:${settings.port}`;
    const attendeeDirOnHost = path.join(projectDir, ATTENDEE_DIR);
    // The projector's address first, then the laptop's other networks.
    const servedHosts = [...new Set([args.advertisedAddress, ...args.lanAddresses])].map((a) => `${a}:${settings.port}`);

    // A facilitator verb, run on this laptop from the project folder; re-run only when a trigger changes.
    const runVerb = (resourceName: string, verbArgs: string[], triggers: unknown[], options: pulumi.CustomResourceOptions) =>
      new command.local.Command(resourceName, { dir: projectDir, create: venueVerb(verbArgs), triggers, addPreviousOutputInEnv: false }, options);

    // Before anything is created: Docker reachable, ports free, disk, credentials.
    const preflight = runVerb(
      `${name}-preflight`,
      [
        "preflight",
        "--port",
        String(settings.port),
        "--mirror-port",
        String(settings.mirrorPort),
        "--min-free-gb",
        String(settings.minFreeDiskGb),
        "--data-dir",
        projectDir,
      ],
      [settings.port, settings.mirrorPort, settings.minFreeDiskGb],
      child,
    );
    const afterPreflight = { parent: this, dependsOn: [preflight] };

    // Kept in the local image store on destroy: a rehearsal does not download them again.
    const registryImage = new docker.RemoteImage(`${name}-registry-image`, { name: settings.registryImage, keepLocally: true }, afterPreflight);
    const nginxImage = new docker.RemoteImage(`${name}-nginx-image`, { name: settings.nginxImage, keepLocally: true }, afterPreflight);
    const nodeImage = new docker.RemoteImage(`${name}-node-image`, { name: settings.nodeImage, keepLocally: true }, afterPreflight);

    const network = new docker.Network(`${name}-network`, { name: VENUE_NAMES.network, driver: "bridge" }, afterPreflight);
    const onNetwork = (alias: string) => [{ name: network.name, aliases: [alias] }];

    // The mirrored gigabytes survive `pulumi destroy`, so a rehearsal's second `up` copies 0 bytes.
    const dataVolume = new docker.Volume(`${name}-data`, { name: VENUE_NAMES.dataVolume }, { ...afterPreflight, retainOnDelete: true });
    const logsVolume = new docker.Volume(`${name}-logs`, { name: VENUE_NAMES.logsVolume }, afterPreflight);

    // Fixed names and host ports: a replacement must delete the old container first.
    const replaceable: pulumi.CustomResourceOptions = { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["healthcheck"] };

    const writer = new docker.Container(
      `${name}-writer`,
      {
        name: VENUE_NAMES.writer,
        image: registryImage.imageId,
        restart: RESTART_POLICY,
        // Writes come only from this laptop: the mirror. Attendees reach the read-only front door.
        ports: [{ internal: REGISTRY_PORT, external: settings.mirrorPort, ip: "127.0.0.1" }],
        volumes: [{ volumeName: dataVolume.name, containerPath: IN_CONTAINER.registryData }],
        uploads: [
          {
            file: IN_CONTAINER.registryConfig,
            content: renderRegistryConfig({ listenAddress: `0.0.0.0:${REGISTRY_PORT}`, rootDirectory: IN_CONTAINER.registryData, readOnly: false }),
          },
        ],
        networksAdvanced: onNetwork(VENUE_NAMES.writer),
        healthcheck: healthcheck(`http://127.0.0.1:${REGISTRY_PORT}/v2/`),
        // Mirroring starts only once the registry answers.
        wait: true,
        waitTimeout: 120,
      },
      replaceable,
    );

    const replicas = Array.from({ length: settings.replicas }, (_, i) => {
      const replicaName = VENUE_NAMES.replica(i + 1);
      return new docker.Container(
        `${name}-replica-${i + 1}`,
        {
          name: replicaName,
          image: registryImage.imageId,
          restart: RESTART_POLICY,
          volumes: [{ volumeName: dataVolume.name, containerPath: IN_CONTAINER.registryData, readOnly: true }],
          uploads: [
            {
              file: IN_CONTAINER.registryConfig,
              content: renderRegistryConfig({ listenAddress: `0.0.0.0:${REGISTRY_PORT}`, rootDirectory: IN_CONTAINER.registryData, readOnly: true }),
            },
          ],
          networksAdvanced: onNetwork(replicaName),
          healthcheck: healthcheck(`http://127.0.0.1:${REGISTRY_PORT}/v2/`),
          wait: true,
          waitTimeout: 120,
        },
        { ...replaceable, dependsOn: [writer] },
      );
    });

    // One copy per image, all platforms, digests intact (lib/mirror.ts); re-run only when it changes.
    const mirrors = images.map((image) => {
      const platforms = platformsFor(image, settings.platforms);
      const verbArgs = [
        "mirror",
        "--source",
        image.source,
        "--target",
        image.target,
        "--registry",
        `127.0.0.1:${settings.mirrorPort}`,
        "--platforms",
        platforms.join(","),
        "--lock-dir",
        LOCK_DIR,
      ];
      if (settings.seedFrom) verbArgs.push("--seed-from", settings.seedFrom);
      return runVerb(
        `${name}-mirror-${slug(image.target)}`,
        verbArgs,
        [image.source, image.target, platforms.join(","), settings.seedFrom ?? ""],
        { parent: this, dependsOn: [writer] },
      );
    });

    // Fails `up` with the list of what is missing; writes the lock file the front door serves.
    const verify = runVerb(
      `${name}-verify`,
      [
        "verify",
        "--images",
        settings.imagesFile,
        "--registry",
        `127.0.0.1:${settings.mirrorPort}`,
        "--platforms",
        settings.platforms.join(","),
        "--lock-dir",
        LOCK_DIR,
        "--out",
        path.posix.join(ATTENDEE_DIR, LOCK_FILE_NAME),
      ],
      [...images.map((i) => `${i.source}=>${i.target}[${platformsFor(i, settings.platforms).join(",")}]`), settings.seedFrom ?? ""],
      { parent: this, dependsOn: mirrors },
    );

    // The attendee CLI as one self-contained package, served by the front door for `npx`.
    const attendeePackage = new command.local.Command(
      `${name}-attendee-package`,
      {
        dir: projectDir,
        // The venue's address is baked in, so the package also works without --registry.
        create: `npm run --silent pack:attendee -- --venue ${registryHost}`,
        triggers: [registryHost],
        addPreviousOutputInEnv: false,
      },
      afterPreflight,
    );

    // The mirror laptops, next to the lock file: attendees spread over them (lib/mirror-selection.ts).
    const mirrorList = runVerb(
      `${name}-published-mirrors`,
      [
        "publish-mirrors",
        "--primary",
        registryHost,
        "--mirrors",
        settings.mirrors.join(","),
        "--out",
        path.posix.join(ATTENDEE_DIR, MIRROR_LIST_FILE_NAME),
      ],
      [registryHost, ...settings.mirrors],
      { parent: this, dependsOn: [attendeePackage] },
    );

    const monitor = new docker.Container(
      `${name}-monitor`,
      {
        name: VENUE_NAMES.monitor,
        image: nodeImage.imageId,
        restart: RESTART_POLICY,
        workingDir: IN_CONTAINER.project,
        command: [
          "node",
          "-r",
          "ts-node/register/transpile-only",
          "facilitator/venue.ts",
          "monitor",
          "--listen",
          `0.0.0.0:${MONITOR_PORT}`,
          "--lock",
          `${IN_CONTAINER.attendeeDir}/${LOCK_FILE_NAME}`,
          "--access-log",
          `${IN_CONTAINER.logs}/access.json`,
          "--stub-status-url",
          `http://${VENUE_NAMES.frontDoor}:${STUB_STATUS_PORT}/stub_status`,
          "--front-door-url",
          `http://${VENUE_NAMES.frontDoor}:${FRONT_DOOR_PORT}`,
          ...replicas.flatMap((_, i) => ["--replica", `http://${VENUE_NAMES.replica(i + 1)}:${REGISTRY_PORT}`]),
          ...servedHosts.flatMap((h) => ["--lan-address", h]),
          // {venue} becomes each LAN address on the dashboard and the slide.
          "--attendee-command",
          attendeeCommandFor("{venue}"),
          "--expected-attendees",
          String(settings.expectedAttendees),
          // The dashboard shows each mirror laptop's health and throughput; the planner counts them.
          ...settings.mirrors.flatMap((m) => ["--mirror", m]),
        ],
        volumes: [
          { hostPath: projectDir, containerPath: IN_CONTAINER.project, readOnly: true },
          { hostPath: attendeeDirOnHost, containerPath: IN_CONTAINER.attendeeDir, readOnly: true },
          { volumeName: logsVolume.name, containerPath: IN_CONTAINER.logs, readOnly: true },
        ],
        networksAdvanced: onNetwork(VENUE_NAMES.monitor),
        healthcheck: healthcheck(`http://127.0.0.1:${MONITOR_PORT}/healthz`),
      },
      { ...replaceable, dependsOn: [attendeePackage] },
    );

    // The same text the front-door tests run with Debian's nginx (lib/nginx-config.ts).
    const nginxConfig = renderNginxConfig(frontDoorContainerOptions(settings.replicas));

    const frontDoor = new docker.Container(
      `${name}-frontdoor`,
      {
        name: VENUE_NAMES.frontDoor,
        image: nginxImage.imageId,
        restart: RESTART_POLICY,
        // The only listener beyond 127.0.0.1: the LAN port attendees pull from.
        ports: [{ internal: FRONT_DOOR_PORT, external: settings.port }],
        uploads: [{ file: IN_CONTAINER.nginxConfig, content: nginxConfig }],
        volumes: [
          // The blob fast path reads the registry's files directly; read-only, so nothing is written.
          { volumeName: dataVolume.name, containerPath: IN_CONTAINER.registryData, readOnly: true },
          { volumeName: logsVolume.name, containerPath: IN_CONTAINER.logs },
          { hostPath: attendeeDirOnHost, containerPath: IN_CONTAINER.attendeeDir, readOnly: true },
        ],
        // 700 laptops x 3 parallel layers, plus keep-alives to the replicas.
        ulimits: [{ name: "nofile", soft: 65536, hard: 65536 }],
        networksAdvanced: onNetwork(VENUE_NAMES.frontDoor),
        // nginx resolves the replicas' and the monitor's addresses once, at start: when one of them is
        // replaced, this label changes and the front door is replaced after it.
        labels: [
          {
            label: "venue.upstreams",
            value: pulumi.all([...replicas.map((r) => r.id), monitor.id]).apply((ids) => ids.join(",")),
          },
        ],
        healthcheck: healthcheck(`http://127.0.0.1:${FRONT_DOOR_PORT}/healthz`),
        wait: true,
        waitTimeout: 120,
      },
      // nginx resolves the replicas' and the monitor's names when it starts.
      { ...replaceable, dependsOn: [...replicas, monitor, attendeePackage, mirrorList] },
    );

    this.registryHost = pulumi.output(frontDoor.id).apply(() => registryHost);
    this.registryUrl = this.registryHost.apply((host) => `http://${host}`);
    this.lanUrls = pulumi.output(servedHosts.map((h) => `http://${h}`));
    this.dashboardUrl = pulumi.output(frontDoor.id).apply(() => `http://${registryHost}/`);
    this.slidesUrl = pulumi.output(frontDoor.id).apply(() => `http://${registryHost}/slides`);
    this.attendeeCommand = pulumi.output(frontDoor.id).apply(() => attendeeCommandFor(registryHost));
    this.lockFile = pulumi.output(verify.stdout).apply(() => `http://${registryHost}/attendee/${LOCK_FILE_NAME}`);
    this.images = pulumi.output(
      images.map((image) => ({
        source: familiarImageName(image.sourceReference),
        target: image.target,
        venueName: `${registryHost}/${image.target}`,
        platforms: platformsFor(image, settings.platforms),
      })),
    );

    this.registerOutputs({
      registryUrl: this.registryUrl,
      registryHost: this.registryHost,
      lanUrls: this.lanUrls,
      dashboardUrl: this.dashboardUrl,
      slidesUrl: this.slidesUrl,
      attendeeCommand: this.attendeeCommand,
      images: this.images,
      lockFile: this.lockFile,
    });
  }
}

/** The exact line on the projector. The package knows nothing of the venue, so the address is passed. */
export function attendeeCommandFor(registryHost: string): string {
  return `npx -y http://${registryHost}/attendee/${ATTENDEE_PACKAGE} --registry ${registryHost}`;
}
