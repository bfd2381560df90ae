// Test helpers over node:assert (the std library on jsr is not reachable from here).
import nodeAssert from "node:assert/strict";
import { CodedError, codeName } from "../errors.ts";

// node:assert's overloads do not accept `string | undefined` under exactOptionalPropertyTypes.
type Msg = string | undefined;
const deepEqual = nodeAssert.deepStrictEqual as (a: unknown, b: unknown, m?: Msg) => void;
const match = nodeAssert.match as (s: string, re: RegExp, m?: Msg) => void;
const ok = nodeAssert.ok as (v: unknown, m?: Msg) => void;

export function assert(cond: unknown, msg?: string): asserts cond {
  ok(cond, msg);
}
export const assertEquals = <T>(actual: T, expected: T, msg?: string): void =>
  deepEqual(actual, expected, msg);
export const assertMatch = (actual: string, re: RegExp, msg?: string): void => match(actual, re, msg);

/** Asserts that `fn` rejects with a CodedError of `code` whose message matches `message`. */
export async function assertCodedError(
  fn: () => Promise<unknown>,
  code: number,
  message?: RegExp,
): Promise<CodedError> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof CodedError)) {
    throw new Error(
      `expected CodedError ${codeName(code)}, got ${caught === undefined ? "success" : String(caught)}`,
    );
  }
  assertEquals(codeName(caught.code), codeName(code), `message: ${caught.message}`);
  if (message) assertMatch(caught.message, message);
  return caught;
}
