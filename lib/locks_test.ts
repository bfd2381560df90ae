import { assertCodedError, assertEquals } from "./testing/assert.ts";
import { Code } from "./errors.ts";
import { KeyedLocks, KeyedQueue } from "./locks.ts";
import { openScope, withCallScope } from "./call_scope.ts";

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

/** A gate the test opens by hand: the running operation holds the key until then. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

Deno.test("KeyedQueue bounds the operations waiting per key; more are ABORTED", async () => {
  const q = new KeyedQueue(3);
  const g = gate();
  const running = q.run("k", () => g.wait, null);
  const waiting = [1, 2, 3].map((i) => q.run("k", () => Promise.resolve(i), null));
  assertEquals(q.waitingFor("k"), 3);
  await assertCodedError(
    () => q.run("k", () => Promise.resolve(4), null),
    Code.ABORTED,
    /3 operations already wait for k/,
  );
  // Other keys are not affected by a full line.
  assertEquals(await q.run("other", () => Promise.resolve("o"), null), "o");
  g.open();
  await running;
  assertEquals(await Promise.all(waiting), [1, 2, 3]);
  assertEquals(q.waitingFor("k"), 0);
});

Deno.test("KeyedQueue: a waiter whose caller left is answered at once and never runs", async () => {
  const q = new KeyedQueue();
  const g = gate();
  const running = q.run("k", () => g.wait, null);
  const ac = new AbortController();
  let ran = false;
  const left = q.run("k", () => {
    ran = true;
    return Promise.resolve();
  }, ac.signal);
  const after = q.run("k", () => Promise.resolve("after"), null);
  ac.abort(new Error("caller gone"));
  let reason = "";
  await left.catch((e) => (reason = (e as Error).message));
  assertEquals([reason, q.waitingFor("k")], ["caller gone", 1]);
  g.open();
  await running;
  assertEquals(await after, "after");
  assertEquals(ran, false);
});

Deno.test("KeyedQueue: a started operation runs to its end even when its caller leaves", async () => {
  const q = new KeyedQueue();
  const g = gate();
  const ac = new AbortController();
  let finished = false;
  const started = q.run("k", async () => {
    await g.wait;
    finished = true;
  }, ac.signal);
  await new Promise((r) => setTimeout(r, 0));
  ac.abort(new Error("caller gone"));
  let second = false;
  const next = q.run("k", () => Promise.resolve(second = true), null);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(second, false);
  g.open();
  await started;
  await next;
  assertEquals([finished, second], [true, true]);
});

Deno.test("KeyedLocks: a caller that already left takes no lock", async () => {
  const locks = new KeyedLocks();
  const { scope, dispose } = openScope("NodeStageVolume", Date.now() - 1);
  await assertCodedError(
    () => withCallScope(scope, () => locks.withLock("v", "volume v", () => Promise.resolve())),
    Code.DEADLINE_EXCEEDED,
    /deadline passed before NodeStageVolume/,
  );
  dispose();
  assertEquals(locks.isHeld("v"), false);
});
