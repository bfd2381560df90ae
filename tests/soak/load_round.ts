// One round of the soak's load in its own process: `deno run -A load_round.ts '<LoadOptions JSON>'`
// prints the round's LoadReport as JSON on its last line. The soak runs rounds one after another,
// so what the load generator's own runtime keeps of thousands of abandoned channels and reset
// streams (its heap grew past 4 GB in one 300 s run) is dropped between rounds; the drivers under
// test keep running across all of them.
import { type LoadOptions, runLoad } from "./load.ts";

if (import.meta.main) {
  const opts = JSON.parse(Deno.args[0] ?? "{}") as LoadOptions;
  const report = await runLoad(opts);
  console.log(JSON.stringify(report));
  // Channels and sessions the load abandoned may keep the event loop alive; the round is over.
  Deno.exit(0);
}
