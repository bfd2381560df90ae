import type { GetPluginInfoResponse } from "./generated/csi/v1/GetPluginInfoResponse.ts";
import type { GetPluginCapabilitiesResponse } from "./generated/csi/v1/GetPluginCapabilitiesResponse.ts";
import type { ProbeResponse } from "./generated/csi/v1/ProbeResponse.ts";
import { logger } from "../log.ts";
import { DRIVER_VERSION } from "../version.ts";

const log = logger("identity");

/** A readiness check: resolves to a problem description, or undefined when ready. */
export type ReadinessCheck = () => Promise<string | undefined>;

export class IdentityService {
  private ready = false;

  constructor(
    private driverName: string,
    private check: ReadinessCheck,
  ) {}

  GetPluginInfo(): Promise<GetPluginInfoResponse> {
    return Promise.resolve({ name: this.driverName, vendor_version: DRIVER_VERSION });
  }

  /**
   * The plugin's capabilities as a whole, answered the same by every mode: the
   * controller service exists even when this process serves only the node.
   */
  GetPluginCapabilities(): Promise<GetPluginCapabilitiesResponse> {
    return Promise.resolve({
      capabilities: [
        { service: { type: "CONTROLLER_SERVICE" as const } },
        { volume_expansion: { type: "ONLINE" as const } },
      ],
    });
  }

  /** Ready once the tools work; checked until they do, then remembered (Probe is called often). */
  async Probe(): Promise<ProbeResponse> {
    if (!this.ready) {
      const problem = await this.check();
      if (problem) log.warn("not ready: {problem}", { problem });
      this.ready = problem === undefined;
    }
    return { ready: { value: this.ready } };
  }
}
