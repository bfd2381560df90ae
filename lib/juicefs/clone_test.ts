import { assertEquals } from "../testing/assert.ts";
import { cloneMessage, parseReply } from "./clone_protocol.ts";

Deno.test("clone: the message is JuiceFS's Clone request, big endian, attributes preserved", () => {
  const m = cloneMessage(0x0102n, 7n, 9n, "ab");
  const dv = new DataView(m.buffer);
  assertEquals(dv.getUint32(0), 1006);
  assertEquals(dv.getUint32(4), m.length - 8);
  assertEquals(dv.getBigUint64(8), 0x0102n);
  assertEquals(dv.getBigUint64(16), 7n);
  assertEquals(dv.getBigUint64(24), 9n);
  assertEquals([...m.subarray(32, 35)], [2, 0x61, 0x62]);
  assertEquals(dv.getUint16(35), 0);
  assertEquals(m[37], 0x02);
  assertEquals(m.length, 38);
  for (const bad of ["", "a/b", "x".repeat(256)]) {
    let threw = false;
    try {
      cloneMessage(1n, 1n, 1n, bad);
    } catch {
      threw = true;
    }
    assertEquals(threw, true, bad);
  }
});

Deno.test("clone: the reply is progress frames then one errno byte, however it is split", () => {
  const progress = [0xfe, ...new Array(16).fill(1)];
  const cases: Array<[number[][], number | undefined]> = [
    [[[0]], 0],
    [[[17]], 17],
    [[progress, [0]], 0],
    [[[...progress, ...progress, 0]], 0],
    [[progress.slice(0, 5), progress.slice(5), [2]], 2],
    [[progress], undefined],
    [[progress.slice(0, 9)], undefined],
  ];
  for (const [chunks, want] of cases) {
    const pending: number[] = [];
    let got: number | undefined;
    for (const c of chunks) got = parseReply(pending, new Uint8Array(c));
    assertEquals(got, want, JSON.stringify(chunks));
  }
});
