import { assertEquals, assertMatch } from "../testing/assert.ts";
import { Code, codeName } from "../errors.ts";
import { kubeError } from "./kube_errors.ts";
import { forgetSecrets, registerSecrets } from "../redact.ts";

const status = (code: number, reason: string, message: string) => ({
  code,
  body: JSON.stringify({ kind: "Status", reason, message }),
  message: `HTTP-Code: ${code}\nBody: {"data":{"settings.json":"c2VjcmV0"}}`,
});

const CASES: [unknown, string, RegExp][] = [
  [
    status(404, "NotFound", 'pods "x" not found'),
    "NOT_FOUND",
    /get pod ns\/x: pods "x" not found \(HTTP 404\)/,
  ],
  [status(409, "AlreadyExists", 'pods "x" already exists'), "ALREADY_EXISTS", /already exists/],
  [status(409, "Conflict", "the object has been modified"), "ABORTED", /modified/],
  [status(403, "Forbidden", "pods is forbidden: User cannot create"), "PERMISSION_DENIED", /forbidden/],
  [status(422, "Invalid", 'Pod "x" is invalid: metadata.labels'), "INVALID_ARGUMENT", /is invalid/],
  [status(500, "InternalError", "etcd timeout"), "UNAVAILABLE", /etcd timeout \(HTTP 500\)/],
  [
    Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } }),
    "UNAVAILABLE",
    /ECONNREFUSED \(API server not reachable\)/,
  ],
];

for (const [err, code, msg] of CASES) {
  Deno.test(`kubeError: ${code} ${msg}`, () => {
    const e = kubeError("get pod ns/x", err);
    assertEquals(codeName(e.code), code);
    assertMatch(e.message, msg);
    // The client library's message (which may quote a request body) never enters.
    assertEquals(e.message.includes("c2VjcmV0"), false);
  });
}

Deno.test("kubeError: a known secret in the API's message is masked", () => {
  forgetSecrets();
  registerSecrets(["redis://:hunter22@meta:6379/1"]);
  const e = kubeError(
    "create secret ns/s",
    status(422, "Invalid", "bad value redis://:hunter22@meta:6379/1"),
  );
  assertEquals(e.code, Code.INVALID_ARGUMENT);
  assertEquals(e.message.includes("hunter22"), false);
});
