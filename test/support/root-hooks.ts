/** Stops every real program the tests started, even when a test failed half way. */
import { stopAllServices } from "./services";

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopAllServices();
  },
};
