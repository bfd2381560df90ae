import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { clientLabel, mountPodName, nodeLabel, nodeSelector, volumeAnnotation } from "./pod_spec.ts";

Deno.test("mount pod names: deterministic per node and key, valid DNS labels", () => {
  const a = mountPodName("node-1", "myfs-0123456789ab", "myfs");
  assertEquals(a, mountPodName("node-1", "myfs-0123456789ab", "myfs"));
  assert(a !== mountPodName("node-2", "myfs-0123456789ab", "myfs"));
  assert(a !== mountPodName("node-1", "myfs-ba9876543210", "myfs"));
  for (
    const n of [
      a,
      mountPodName("n", "k", "A_Very_Long_File_System_Name_That_Goes_On_And_On"),
      mountPodName("n", "k", "--"),
    ]
  ) {
    assertMatch(n, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  }
});

Deno.test("node labels: the name when it fits, else a prefix and a hash; always a valid label value", () => {
  assertEquals(nodeLabel("worker-1.example.com"), "worker-1.example.com");
  const long = `${"n".repeat(70)}.example.com`;
  const l = nodeLabel(long);
  assert(l.length <= 63 && l !== nodeLabel(`${"n".repeat(71)}.example.com`));
  assertMatch(l, /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
  assertEquals(nodeSelector("w1"), "app.kubernetes.io/name=csi-jfs-mount,jfs.csi.dev/node=w1");
  assertMatch(clientLabel("x".repeat(200)), /^[0-9a-f]{16}$/);
  assertMatch(volumeAnnotation("myfs|delete|pvc-1"), /^jfs\.csi\.dev\/volume\.[0-9a-f]{16}$/);
});
