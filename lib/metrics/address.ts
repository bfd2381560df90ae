/** "host:port", "[::1]:9810" or ":9810" (every interface) -> its parts; throws on anything else. */
export function parseListenAddress(address: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`"${address}" is not host:port (e.g. 0.0.0.0:9810, :9810)`);
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}
