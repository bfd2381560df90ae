/** The driver's default CSI name and its version, for every mode and the CLI. */
export const DEFAULT_DRIVER_NAME = "jfs.csi.dev";
export const DRIVER_VERSION = "0.1.0";
