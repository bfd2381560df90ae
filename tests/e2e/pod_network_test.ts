// The test cluster's pod network (hack/cluster/cni/csi-jfs-isolated): an ordinary pod gets its
// own network namespace whose eth0 routes nowhere, and leaves nothing behind on the host.
import { assert, assertEquals, assertMatch } from "../../lib/testing/assert.ts";
import { apply, exec, getOrUndefined, kubectl, sleeperPod, startPod, waitFor } from "./kube.ts";

const NS = "csi-jfs-e2e";

interface Link {
  ifindex: number;
  ifname: string;
  flags: string[];
  addr_info?: unknown[];
}

async function hostLinks(): Promise<Link[]> {
  const out = await new Deno.Command("ip", { args: ["-j", "addr", "show"], stdout: "piped" }).output();
  assert(out.success, "ip -j addr show failed on the host");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("an ordinary pod gets an eth0 with a 127.200.0.0/16 address that routes nowhere", async () => {
  await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  const pod = await startPod(sleeperPod(NS, "net-probe"));
  try {
    const podIP: string = pod.status.podIP;
    assertMatch(podIP ?? "", /^127\.200\.\d+\.\d+$/, `status.podIP ${podIP}`);

    const addrs = (await exec(NS, "net-probe", ["ip", "-o", "-4", "addr", "show"])).trim().split("\n");
    const named = addrs.map((l) => l.split(/\s+/).slice(1, 4).join(" ")).sort();
    assertEquals(named, [`eth0 inet ${podIP}/16`, "lo inet 127.0.0.1/8"], `addresses:\n${addrs.join("\n")}`);

    // Only the connected route of eth0's own range: no default route, nothing via a gateway.
    const routes = (await exec(NS, "net-probe", ["ip", "-4", "route", "show"])).trim().split("\n");
    assertEquals(routes.length, 1, `routes:\n${routes.join("\n")}`);
    assertMatch(routes[0] ?? "", /^127\.200\.0\.0\/16 dev eth0 /);

    const resolv = await exec(NS, "net-probe", ["cat", "/etc/resolv.conf"]);
    assertMatch(resolv, /^nameserver 127\.0\.100\.10$/m, `resolv.conf:\n${resolv}`);

    // eth0's peer on the host: ours by name, down, no address.
    const peer = Number((await exec(NS, "net-probe", ["cat", "/sys/class/net/eth0/iflink"])).trim());
    const host = (await hostLinks()).find((l) => l.ifindex === peer);
    assert(host, `no host interface with index ${peer}`);
    assertMatch(host.ifname, /^cjfs[0-9a-f]{11}$/);
    assert(!host.flags.includes("UP"), `host end ${host.ifname} is up: ${host.flags}`);
    assertEquals(host.addr_info ?? [], [], `host end ${host.ifname} has addresses`);

    await kubectl(["-n", NS, "delete", "pod", "net-probe", "--wait=true", "--timeout=120s"]);
    await waitFor(`host end ${host.ifname} to go with the pod`, async () => {
      return (await hostLinks()).some((l) => l.ifname === host.ifname) ? undefined : true;
    }, 60_000);
  } finally {
    if (await getOrUndefined(["-n", NS, "get", "pod", "net-probe"])) {
      await kubectl(["-n", NS, "delete", "pod", "net-probe", "--wait=true", "--timeout=120s"]);
    }
  }
});
