import { assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { parseEnvs, settingsFromSecrets, splitMetaUrl } from "./settings.ts";

Deno.test("splitMetaUrl moves passwords out of the URL for engines that read META_PASSWORD", () => {
  const cases: Array<[string, string, string | undefined]> = [
    ["redis://:p%40ss@host:6379/1", "redis://@host:6379/1", "p@ss"],
    ["redis://user:pw@host/2", "redis://user@host/2", "pw"],
    ["mysql://u:pw@(127.0.0.1:3306)/jfs", "mysql://u@(127.0.0.1:3306)/jfs", "pw"],
    ["postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?sslmode=disable", "pw"],
    ["sqlite3:///var/lib/jfs/meta.db", "sqlite3:///var/lib/jfs/meta.db", undefined],
    ["redis://host:6379/1", "redis://host:6379/1", undefined],
  ];
  for (const [input, url, pw] of cases) {
    assertEquals(splitMetaUrl(input), pw ? { url, password: pw } : { url }, input);
  }
});

Deno.test("settingsFromSecrets keeps secrets in env only", () => {
  const s = settingsFromSecrets({
    name: "myjfs",
    metaurl: "redis://:hunter22@127.0.0.1:6379/1",
    storage: "s3",
    bucket: "http://127.0.0.1:9000/b",
    "access-key": "AKIAEXAMPLE",
    "secret-key": "topsecretvalue",
    envs: '{"TZ": "UTC"}',
    "format-options": "trash-days=0,block-size=4096",
  });
  assertEquals(s.metaUrl, "redis://@127.0.0.1:6379/1");
  assertEquals(s.formatOptions, ["--trash-days=0", "--block-size=4096"]);
  assertEquals(s.secretEnv, {
    TZ: "UTC",
    META_PASSWORD: "hunter22",
    ACCESS_KEY: "AKIAEXAMPLE",
    SECRET_KEY: "topsecretvalue",
  });
});

Deno.test("settingsFromSecrets rejects bad secrets with INVALID_ARGUMENT naming the key, not the value", async () => {
  const base = { name: "myjfs", metaurl: "sqlite3:///tmp/m.db" };
  const cases: Array<[Record<string, string> | undefined, RegExp]> = [
    [undefined, /secrets are required/],
    [{}, /secrets are required/],
    [{ ...base, name: "A" }, /"name"/],
    [{ ...base, name: "../x" }, /"name"/],
    [{ name: "myjfs" }, /"metaurl" is required/],
    [{ ...base, metaurl: "redis://a b" }, /whitespace/],
    [{ ...base, tokenx: "v" }, /"tokenx" is not known/],
    [{ ...base, "format-options": "secret-key=abc" }, /"secret-key" is not allowed/],
    [{ ...base, "format-options": "bad key=1" }, /not valid/],
    [{ ...base, envs: '{"1X": "y"}' }, /not a valid variable name/],
    [{ ...base, envs: "[1,2]" }, /map of environment/],
    [{ ...base, storage: "x".repeat(5000) }, /too long/],
  ];
  for (const [secrets, re] of cases) {
    const err = await assertCodedError(
      () => Promise.resolve(settingsFromSecrets(secrets)),
      Code.INVALID_ARGUMENT,
      re,
    );
    if (err.message.includes("hunter")) throw new Error("secret leaked");
  }
});

Deno.test("parseEnvs accepts JSON and flow maps", () => {
  assertEquals(parseEnvs('{"A": 1}'), { A: "1" });
  assertEquals(parseEnvs("{A: x, B: 'y z'}"), { A: "x", B: "y z" });
  assertEquals(parseEnvs(""), {});
});
