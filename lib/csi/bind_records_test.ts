import { join } from "node:path";
import { assertEquals } from "../testing/assert.ts";
import { BindRecords } from "./bind_records.ts";

Deno.test("bind records: survive a restart, are private, and go with delete", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bind_records" });
  try {
    const recs = join(dir, "binds");
    const a = new BindRecords(recs);
    await a.set({ mountPoint: "/k/staging/a", volumeId: "jfs1/fs/delete/a", mountId: 77 });
    await a.set({ mountPoint: "/k/staging/b", volumeId: "static", mountId: 78 });
    await Deno.writeTextFile(join(recs, "torn.json"), "{not json");
    assertEquals((await Deno.stat(recs)).mode! & 0o777, 0o700);
    for (const e of Deno.readDirSync(recs)) {
      if (e.name !== "torn.json") assertEquals((await Deno.stat(join(recs, e.name))).mode! & 0o777, 0o600);
    }
    const b = new BindRecords(recs);
    assertEquals(b.get("/k/staging/a")?.volumeId, "jfs1/fs/delete/a");
    assertEquals(b.get("/k/staging/b")?.mountId, 78);
    await b.delete("/k/staging/a");
    assertEquals(new BindRecords(recs).get("/k/staging/a"), undefined);
    assertEquals(new BindRecords(join(dir, "none")).get("/k/staging/b"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
