import { assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { KeyedLocks } from "../locks.ts";
import { VolumeLocks } from "./node_locks.ts";

Deno.test("volume locks: publishes share, stage/unstage exclude them and each other", async () => {
  const v = new VolumeLocks(new KeyedLocks());
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const p1 = v.shared("a", "volume a", () => held);
  // Another publish of the same volume runs beside it.
  assertEquals(await v.shared("a", "volume a", () => Promise.resolve(2)), 2);
  await assertCodedError(
    () => v.exclusive("a", "volume a", () => Promise.resolve()),
    Code.ABORTED,
    /publish/,
  );
  // Other volumes are not concerned.
  assertEquals(await v.exclusive("b", "volume b", () => Promise.resolve(3)), 3);
  release();
  await p1;

  let unstaged!: () => void;
  const unstage = v.exclusive("a", "volume a", () => new Promise<void>((r) => (unstaged = r)));
  await assertCodedError(() => v.shared("a", "volume a", () => Promise.resolve()), Code.ABORTED, /unstage/);
  await assertCodedError(() => v.exclusive("a", "volume a", () => Promise.resolve()), Code.ABORTED);
  unstaged();
  await unstage;
  assertEquals(await v.shared("a", "volume a", () => Promise.resolve(4)), 4);
});
