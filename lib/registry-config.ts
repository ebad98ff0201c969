/**
 * The distribution registry's config.yml, for the writable mirror target and for read-only replicas.
 * The stack uploads this text into the registry containers and the tests run the very same text with
 * Debian's docker-registry, so what the containers do is what the tests exercise.
 */
export interface RegistryConfigOptions {
  /** Address the registry listens on inside its container or test host, e.g. "0.0.0.0:5000". */
  listenAddress: string;
  /** Where blobs and manifests live (the shared data volume). */
  rootDirectory: string;
  /** Replicas share the writer's storage; read-only mode refuses every write with 405. */
  readOnly: boolean;
  /** Debug listener with /debug/health and metrics; keep it on loopback. */
  debugAddress?: string;
}

export function renderRegistryConfig(options: RegistryConfigOptions): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: info",
    "  formatter: text",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(options.rootDirectory)}`,
    "  delete:",
    "    enabled: false",
    "  maintenance:",
    // Upload purging writes to storage; replicas mount it read-only, and the writer keeps partial
    // uploads so an interrupted mirror run can be resumed.
    "    uploadpurging:",
    "      enabled: false",
    "    readonly:",
    `      enabled: ${options.readOnly ? "true" : "false"}`,
    "  redirect:",
    "    disable: true",
    "http:",
    `  addr: ${JSON.stringify(options.listenAddress)}`,
    "  headers:",
    "    X-Content-Type-Options: [nosniff]",
  ];
  if (options.debugAddress) {
    lines.push("  debug:", `    addr: ${JSON.stringify(options.debugAddress)}`);
  }
  lines.push(
    "health:",
    "  storagedriver:",
    "    enabled: true",
    "    interval: 10s",
    "    threshold: 3",
    "",
  );
  return lines.join("\n");
}
