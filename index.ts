/**
 * The venue stack: `pulumi up --stack venue`. Reads config, creates the VenueRegistry, exports what
 * the facilitator puts on the projector. Everything else lives in lib/.
 */
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { readImageList } from "./lib/image-list";
import { chooseAdvertisedAddress, findLanAddresses } from "./lib/lan-address";
import { VenueRegistry } from "./lib/venue-registry";
import { readVenueSettings } from "./lib/venue-settings";

const settings = readVenueSettings(new pulumi.Config());
const projectDir = __dirname;
const imageList = readImageList(path.resolve(projectDir, settings.imagesFile));
const lan = findLanAddresses();
const advertised = chooseAdvertisedAddress(lan, settings.advertiseAddress);
if (advertised.warning) pulumi.log.warn(advertised.warning);

const venue = new VenueRegistry("venue", {
  settings,
  images: imageList,
  projectDir,
  advertisedAddress: advertised.address,
  lanAddresses: lan.map((a) => a.address),
});

export const registryUrl = venue.registryUrl;
export const registryHost = venue.registryHost;
export const lanUrls = venue.lanUrls;
export const dashboardUrl = venue.dashboardUrl;
export const slidesUrl = venue.slidesUrl;
export const attendeeCommand = venue.attendeeCommand;
export const lockFile = venue.lockFile;
export const images = venue.images;
