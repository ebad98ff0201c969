/**
 * The capacity planner: how long the venue needs to serve every attendee at the throughput it
 * delivers, and how many serving laptops (the venue plus mirror laptops) would finish in a target
 * time. Pure functions; the dashboard runs `planCapacity` itself in the browser (its source text is
 * embedded in the page), so it must stay self-contained: no imports, no module-level names.
 */

export interface CapacityInputs {
  /** How many attendees still need the images. */
  attendees: number;
  /** What one attendee downloads, in bytes (see `bytesPerAttendee`). */
  bytesPerAttendee: number;
  /** What one serving laptop delivers, in bytes per second. */
  throughputBytesPerSecond: number;
  /** When everyone should have the images, in minutes from now. */
  targetMinutes: number;
  /** Laptops serving now, the venue included (1 + healthy mirror laptops); 1 when left out. */
  servingLaptops?: number;
}

export interface CapacityPlan {
  totalBytes: number;
  /** The serving laptops the time is divided by (at least 1). */
  servingLaptops: number;
  /** With every serving laptop at the given throughput; null when there is no throughput to plan with. */
  secondsToServeAll: number | null;
  /** Serving laptops, the venue included, that finish within the target; null without throughput or target. */
  laptopsNeeded: number | null;
  /** laptopsNeeded minus the venue itself. */
  mirrorLaptopsNeeded: number | null;
  /** Laptops to add to those serving now to finish within the target (0 when there are enough). */
  moreLaptopsNeeded: number | null;
}

/**
 * Each serving laptop is assumed to deliver the measured throughput on its own (its own cable or
 * access point); on one shared Wi-Fi, more laptops do not add throughput. The time divides by the
 * laptops serving now; the laptops needed for the target are counted from the venue up, and
 * `moreLaptopsNeeded` says how many to add to those already serving.
 */
export function planCapacity(inputs: CapacityInputs): CapacityPlan {
  const attendees = Math.max(0, Math.floor(Number(inputs.attendees) || 0));
  const perAttendee = Math.max(0, Number(inputs.bytesPerAttendee) || 0);
  const throughput = Number(inputs.throughputBytesPerSecond) || 0;
  const targetSeconds = (Number(inputs.targetMinutes) || 0) * 60;
  // The venue itself always serves; a blank or nonsensical count means just the venue.
  const servingLaptops = Math.max(1, Math.floor(Number(inputs.servingLaptops) || 1));
  const totalBytes = attendees * perAttendee;
  if (!(throughput > 0)) {
    return { totalBytes, servingLaptops, secondsToServeAll: null, laptopsNeeded: null, mirrorLaptopsNeeded: null, moreLaptopsNeeded: null };
  }
  const oneLaptopSeconds = totalBytes / throughput;
  const secondsToServeAll = oneLaptopSeconds / servingLaptops;
  if (!(targetSeconds > 0)) {
    return { totalBytes, servingLaptops, secondsToServeAll, laptopsNeeded: null, mirrorLaptopsNeeded: null, moreLaptopsNeeded: null };
  }
  // The tolerance keeps an exact fit (e.g. 2.0000000000000004 laptops) from asking for one more.
  const laptopsNeeded = Math.max(1, Math.ceil(oneLaptopSeconds / targetSeconds - 1e-9));
  return {
    totalBytes,
    servingLaptops,
    secondsToServeAll,
    laptopsNeeded,
    mirrorLaptopsNeeded: laptopsNeeded - 1,
    moreLaptopsNeeded: Math.max(0, laptopsNeeded - servingLaptops),
  };
}

/** The platforms attendee laptops pull when nothing has been measured yet: Intel/Windows and Apple silicon. */
export const ASSUMED_ATTENDEE_PLATFORMS = ["linux/amd64", "linux/arm64"] as const;

/**
 * Share of attendees per platform, as fractions summing to 1. Measured platform pulls win; without
 * any, attendees are split evenly over the common laptop platforms the lock holds (or over all of
 * the lock's platforms when it holds neither).
 */
export function platformMix(lockPlatforms: string[], pullsByPlatform: Record<string, number> = {}): Record<string, number> {
  const measured = lockPlatforms.filter((p) => (pullsByPlatform[p] ?? 0) > 0);
  if (measured.length > 0) {
    const total = measured.reduce((sum, p) => sum + pullsByPlatform[p], 0);
    return Object.fromEntries(measured.map((p) => [p, pullsByPlatform[p] / total]));
  }
  const assumed = lockPlatforms.filter((p) => (ASSUMED_ATTENDEE_PLATFORMS as readonly string[]).includes(p));
  const chosen = assumed.length > 0 ? assumed : lockPlatforms;
  return Object.fromEntries(chosen.map((p) => [p, 1 / chosen.length]));
}

/**
 * Bytes one attendee downloads: the lock's per-platform totals (shared layers counted once),
 * weighted by the platform mix and rounded to whole bytes. Platforms in the mix that the lock
 * lacks are ignored; with no overlap at all, the largest platform total is the safe answer.
 */
export function bytesPerAttendee(bytesPerPlatform: Record<string, number>, mix: Record<string, number>): number {
  let weight = 0;
  let bytes = 0;
  for (const [platform, share] of Object.entries(mix)) {
    const total = bytesPerPlatform[platform];
    if (total === undefined || !(share > 0)) continue;
    weight += share;
    bytes += share * total;
  }
  if (weight === 0) return Math.max(0, ...Object.values(bytesPerPlatform));
  return Math.round(bytes / weight);
}
