import { assertCodedError, assertEquals } from "./testing/assert.ts";
import { Code } from "./errors.ts";
import { KeyedLocks, KeyedQueue } from "./locks.ts";

Deno.test("KeyedLocks refuses a concurrent call for the same key with ABORTED", async () => {
  const locks = new KeyedLocks();
  let release!: () => void;
  const first = locks.withLock("v1", "volume v1", () => new Promise<void>((r) => (release = r)));
  await assertCodedError(
    () => locks.withLock("v1", "volume v1", () => Promise.resolve()),
    Code.ABORTED,
    /volume v1/,
  );
  assertEquals(await locks.withLock("v2", "volume v2", () => Promise.resolve(7)), 7);
  release();
  await first;
  assertEquals(locks.isHeld("v1"), false);
});

Deno.test("KeyedQueue runs work for one key in order, even after a failure", async () => {
  const q = new KeyedQueue();
  const order: number[] = [];
  const slow = q.run("k", async () => {
    await new Promise((r) => setTimeout(r, 20));
    order.push(1);
    throw new Error("boom");
  });
  const fast = q.run("k", () => {
    order.push(2);
    return Promise.resolve();
  });
  await slow.catch(() => {});
  await fast;
  assertEquals(order, [1, 2]);
});
