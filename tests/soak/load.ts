// A hostile caller's load on the two CSI sockets: many concurrent clients sending malformed,
// huge and deadline-short requests, closing their channels with calls in flight, and raw HTTP/2
// sessions that send garbage, reset streams and go away mid-request. The driver must answer
// every well-formed call with a code (never crash) and keep serving afterwards.
import * as grpc from "@grpc/grpc-js";
import http2 from "node:http2";
import net from "node:net";
import { codeName } from "../../lib/errors.ts";
import { loadCsi } from "../../lib/csi/proto.ts";
import { mountCapability } from "../../lib/testing/grpc_client.ts";

export interface LoadOptions {
  controllerSocket: string;
  nodeSocket: string;
  /** Secrets of the test's own file system; some requests carry them to reach the slow paths. */
  secrets: Record<string, string>;
  /** A directory the load may create staging and target paths under. */
  workDir: string;
  /** Stop after this many seconds or this many requests, whichever comes first. */
  seconds: number;
  maxRequests?: number;
  concurrency?: number;
  /** Deterministic runs: the same seed sends the same sequence. */
  seed?: number;
  /** Share of raw HTTP/2 sessions that misbehave at the frame level (default 0.03). */
  rawRate?: number;
  /** Share of requests before which a client drops its channel with calls in flight (default 0.02). */
  abandonRate?: number;
  /** Shortest deadlines in the mix; 0 leaves the short ones out (default true). */
  shortDeadlines?: boolean;
}

export interface LoadReport {
  requests: number;
  rawSessions: number;
  codes: Record<string, number>;
}

/** A small seeded generator (mulberry32) so a failing run can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Pick = <T>(xs: readonly T[]) => T;

interface Shot {
  service: "controller" | "node";
  method: string;
  req: unknown;
}

/** The request mix: mostly malformed, some huge, some valid enough to take locks and start work. */
function requests(o: LoadOptions, pick: Pick, n: number): Shot[] {
  const big = "x".repeat(pick([300, 5_000, 900_000]));
  const ids = [
    "",
    big,
    "jfs1/soakfs/delete/pvc-a",
    "jfs1/soakfs/retain/../../etc",
    `jfs1/${o.secrets["name"]}/delete/soak-${n % 4}`,
    "vol\nforged=1",
    "\u0000",
  ];
  const paths = [
    "",
    "relative/path",
    `${o.workDir}/stage-${n % 6}`,
    `${o.workDir}/nope/${big}`,
    "/proc/self",
  ];
  const secrets = [{}, { name: "Bad Name" }, o.secrets, { ...o.secrets, "secret-key": `wrong-${n}` }];
  const cap = pick([
    undefined,
    {},
    mountCapability(),
    mountCapability("MULTI_NODE_MULTI_WRITER", ["bogus-opt"]),
  ]);
  const volume_id = pick(ids);
  return [
    { service: "node", method: "NodeGetCapabilities", req: {} },
    { service: "node", method: "NodeGetInfo", req: {} },
    {
      service: "node",
      method: "NodeStageVolume",
      req: {
        volume_id,
        staging_target_path: pick(paths),
        volume_capability: cap,
        secrets: pick(secrets),
        volume_context: pick([{}, { subPath: "../.." }, { mountOptions: "writeback,bogus" }]),
      },
    },
    { service: "node", method: "NodeUnstageVolume", req: { volume_id, staging_target_path: pick(paths) } },
    {
      service: "node",
      method: "NodePublishVolume",
      req: { volume_id, staging_target_path: pick(paths), target_path: pick(paths), volume_capability: cap },
    },
    { service: "node", method: "NodeUnpublishVolume", req: { volume_id, target_path: pick(paths) } },
    { service: "node", method: "NodeGetVolumeStats", req: { volume_id, volume_path: pick(paths) } },
    { service: "node", method: "NodeExpandVolume", req: { volume_id } },
    { service: "controller", method: "ControllerGetCapabilities", req: {} },
    {
      service: "controller",
      method: "CreateVolume",
      req: {
        name: pick(["", big, `soak-${n % 3}`, "../x"]),
        capacity_range: pick([undefined, { required_bytes: "-1" }, { required_bytes: "1048576" }]),
        volume_capabilities: cap ? [cap] : [],
        parameters: pick([{}, { pathPattern: "../${pvc.name}" }, { onDelete: "explode" }]),
        secrets: pick(secrets),
      },
    },
    { service: "controller", method: "DeleteVolume", req: { volume_id, secrets: pick(secrets) } },
    {
      service: "controller",
      method: "ValidateVolumeCapabilities",
      req: { volume_id, volume_capabilities: cap ? [cap] : [], secrets: pick(secrets) },
    },
    {
      service: "controller",
      method: "ControllerExpandVolume",
      req: { volume_id, capacity_range: { required_bytes: "2097152" }, secrets: pick(secrets) },
    },
    { service: "controller", method: "ListVolumes", req: {} },
  ];
}

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: grpc.requestCallback<unknown>,
) => void;

/** One raw HTTP/2 session that misbehaves at the frame level, then goes away mid-request. */
async function rawSession(socket: string, rand: () => number, path: string): Promise<void> {
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(socket) });
  session.on("error", () => {});
  const streams: http2.ClientHttp2Stream[] = [];
  for (let i = 0; i < 1 + Math.floor(rand() * 8); i++) {
    const s = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": `${1 + Math.floor(rand() * 50)}m`,
    });
    s.on("error", () => {});
    s.on("data", () => {});
    const frame = new Uint8Array(5 + 16);
    // A length prefix that promises more bytes than ever come, or a garbage message.
    new DataView(frame.buffer).setUint32(1, rand() < 0.5 ? 1 << 24 : 16);
    crypto.getRandomValues(frame.subarray(5));
    s.write(frame);
    if (rand() < 0.5) s.end();
    streams.push(s);
  }
  await new Promise((r) => setTimeout(r, Math.floor(rand() * 30)));
  const end = rand();
  if (end < 0.3) { for (const s of streams) s.close(http2.constants.NGHTTP2_CANCEL); }
  if (end < 0.6) session.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
  if (end < 0.8) session.destroy();
  else session.close();
}

/**
 * Runs the load and resolves with what it sent and the codes it got. Transport failures
 * (a channel closed under a call, a cut connection) count under their code too: the point
 * is that the driver survives them, not that every call gets through.
 */
export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const v1 = loadCsi().csi.v1;
  const creds = grpc.credentials.createInsecure();
  const until = Date.now() + o.seconds * 1000;
  const max = o.maxRequests ?? Number.MAX_SAFE_INTEGER;
  const report: LoadReport = { requests: 0, rawSessions: 0, codes: {} };
  const count = (code: string) => report.codes[code] = (report.codes[code] ?? 0) + 1;
  const grpcOptions = { "grpc.max_send_message_length": 8 << 20, "grpc.max_receive_message_length": 8 << 20 };

  const worker = async (w: number) => {
    const rand = rng((o.seed ?? 1) * 7919 + w);
    const pick: Pick = (xs) => xs[Math.floor(rand() * xs.length)]!;
    const open = () => ({
      controller: new v1.Controller(`unix://${o.controllerSocket}`, creds, grpcOptions),
      node: new v1.Node(`unix://${o.nodeSocket}`, creds, grpcOptions),
    });
    let clients = open();
    const inFlight = new Set<Promise<void>>();
    while (Date.now() < until && report.requests < max) {
      const n = report.requests++;
      if (rand() < (o.rawRate ?? 0.03)) {
        report.rawSessions++;
        const socket = rand() < 0.5 ? o.nodeSocket : o.controllerSocket;
        const method = socket === o.nodeSocket
          ? "/csi.v1.Node/NodeStageVolume"
          : "/csi.v1.Controller/CreateVolume";
        await Promise.race([
          rawSession(socket, rand, method).catch(() => {}),
          new Promise((r) => setTimeout(r, 2_000)),
        ]);
        count("RAW_SESSION");
        continue;
      }
      if (rand() < (o.abandonRate ?? 0.02)) {
        // Abandon the channel with whatever is in flight, as a crashing caller does.
        clients.controller.close();
        clients.node.close();
        clients = open();
      }
      const shot = pick(requests(o, pick, n));
      const client = clients[shot.service] as unknown as Record<string, Unary>;
      const deadline = Date.now() +
        pick(o.shortDeadlines === false ? [1_000, 10_000] : [1, 5, 20, 100, 1_000, 10_000]);
      const p = new Promise<void>((resolve) => {
        // A callback that never comes (a dead server the channel keeps trying) must not stall the load.
        const stuck = setTimeout(() => {
          count("NO_ANSWER");
          resolve();
        }, deadline - Date.now() + 5_000);
        client[shot.method]!.call(client, shot.req, new grpc.Metadata(), { deadline }, (err) => {
          clearTimeout(stuck);
          count(err ? codeName(err.code) : "OK");
          resolve();
        });
      });
      inFlight.add(p);
      void p.then(() => inFlight.delete(p));
      // Several calls at once per client, but not an unbounded pile on the caller's side.
      if (inFlight.size >= 4 || rand() < 0.5) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    clients.controller.close();
    clients.node.close();
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 12 }, (_, w) => worker(w)));
  return report;
}

/** Resident set size of a process in kB, from /proc (undefined when it is gone). */
export async function rssKb(pid: number): Promise<number | undefined> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : undefined;
}
