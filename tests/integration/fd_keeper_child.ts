// A node plugin's FUSE fd keeper alone, as its own process, so fd_keeper_test.ts can SIGKILL
// and restart it like a node plugin pod. Usage: fd_keeper_child.ts ROOT_DIR STATUS_FILE
// It adopts every key directory under ROOT_DIR, then writes {"holds": {key: bool}} to
// STATUS_FILE every 100 ms (renamed into place, so readers never see half a file).
import { FuseFdKeeper } from "../../lib/clients/fuse_fd_keeper.ts";
import { setupLogging } from "../../lib/log.ts";

const [root, status] = Deno.args;
if (!root || !status) {
  console.error("usage: fd_keeper_child.ts ROOT_DIR STATUS_FILE");
  Deno.exit(2);
}
await setupLogging("text", "debug");
const keeper = new FuseFdKeeper(root);
await keeper.adoptAll();
Deno.addSignalListener("SIGTERM", () => {
  void keeper.stop().then(() => Deno.exit(0));
});
for (;;) {
  const holds = Object.fromEntries(keeper.keys().map((k) => [k, keeper.holds(k)]));
  await Deno.writeTextFile(`${status}.tmp`, JSON.stringify({ pid: Deno.pid, holds }));
  await Deno.rename(`${status}.tmp`, status);
  await new Promise((r) => setTimeout(r, 100));
}
