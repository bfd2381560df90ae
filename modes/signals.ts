/**
 * Resolves on the first SIGTERM or SIGINT: how every long-running mode learns to stop.
 * The listeners stay, so a second signal during shutdown does not kill the process
 * half-way through an unmount.
 */
export function untilStopSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, () => resolve(sig));
  });
}
