import { assert, assertEquals } from "./testing/assert.ts";
import { parseConfig, UsageError } from "./config.ts";

const host = () => "node-a";

Deno.test("parseConfig reads a node command line", () => {
  const p = parseConfig([
    "--mode=node",
    "--endpoint",
    "unix:///tmp/n.sock",
    "--mount-mode",
    "process",
    "--client-release-delay=30s",
  ], host);
  assert(p.kind === "run");
  assertEquals([p.config.mode, p.config.endpoint, p.config.nodeId, p.config.clientReleaseDelayMs], [
    "node",
    "unix:///tmp/n.sock",
    "node-a",
    30_000,
  ]);
  assertEquals(p.config.driverName, "jfs.csi.dev");
});

Deno.test("parseConfig answers help and version", () => {
  const h = parseConfig(["--mode=controller", "--help"], host);
  assert(h.kind === "help" && h.text.includes("--admin-idle-timeout") && !h.text.includes("--nodeid"));
  assertEquals(parseConfig(["--version"], host).kind, "version");
});

Deno.test("parseConfig refuses bad command lines with one-line reasons", () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /--mode is required/],
    [["--mode=frobnicate"], /not one of controller/],
    [["--mode=node", "--bogus"], /bogus/],
    [["--mode=node", "--mount-mode=vm"], /--mount-mode/],
    [["--mode=node", "--client-release-delay=soon"], /not a duration/],
    [["--mode=node", "--log-format=xml"], /--log-format/],
    [["--mode=controller", "--nodeid=x"], /does not apply to --mode=controller/],
    [["--mode=node", "--endpoint=tcp://1.2.3.4:5"], /--endpoint/],
    [["--mode=node", "--driver-name=Bad_Name"], /--driver-name/],
    [["--mode=node", "extra"], /./],
  ];
  for (const [argv, re] of cases) {
    try {
      parseConfig(argv, host);
      throw new Error(`accepted ${argv.join(" ")}`);
    } catch (e) {
      assert(e instanceof UsageError, `${argv.join(" ")}: ${e}`);
      assert(re.test(e.message) && !e.message.includes("\n"), `${argv.join(" ")}: ${e.message}`);
    }
  }
});

Deno.test("parseConfig: the mount-supervisor's fd keeper flags", () => {
  const p = parseConfig([
    "--mode=mount-supervisor",
    "--fd-keeper=/k/fs-1/fd-keeper.sock",
    "--keep-mount-on-term",
  ], host);
  assert(p.kind === "run");
  assertEquals([p.config.fdKeeper, p.config.keepMountOnTerm], ["/k/fs-1/fd-keeper.sock", true]);
  const plain = parseConfig(["--mode=mount-supervisor"], host);
  assert(
    plain.kind === "run" && plain.config.fdKeeper === undefined && plain.config.keepMountOnTerm === undefined,
  );
  const cases: Array<[string[], RegExp]> = [
    [["--mode=mount-supervisor", "--keep-mount-on-term"], /--keep-mount-on-term needs --fd-keeper/],
    [["--mode=node", "--fd-keeper=/x"], /--fd-keeper does not apply to --mode=node/],
  ];
  for (const [argv, re] of cases) {
    try {
      parseConfig(argv, host);
      throw new Error(`accepted ${argv.join(" ")}`);
    } catch (e) {
      assert(e instanceof UsageError && re.test(e.message), `${argv.join(" ")}: ${e}`);
    }
  }
});

Deno.test("parseConfig reads the sidecar injector's flags and refuses bad ones", () => {
  const p = parseConfig([
    "--mode=sidecar-injector",
    "--listen=127.0.0.1:8443",
    "--namespace=jfs",
    "--sidecar-image=reg/csi-jfs:1",
  ], host);
  assert(p.kind === "run");
  assertEquals(p.config.injector, {
    hostname: "127.0.0.1",
    port: 8443,
    namespace: "jfs",
    serviceName: "csi-jfs-sidecar-injector",
    tlsSecret: "csi-jfs-sidecar-injector-tls",
    webhookConfig: "csi-jfs-sidecar-injector",
    sidecarImage: "reg/csi-jfs:1",
  });
  const cases: Array<[string[], RegExp]> = [
    [["--mode=sidecar-injector", "--listen=9443"], /--listen/],
    [["--mode=sidecar-injector", "--listen=h:99999"], /--listen/],
    [["--mode=sidecar-injector", "--tls-secret=Bad_Name"], /--tls-secret/],
    [["--mode=node", "--listen=:1"], /does not apply to --mode=node/],
  ];
  for (const [argv, re] of cases) {
    let err: unknown;
    try {
      parseConfig(argv, host);
    } catch (e) {
      err = e;
    }
    assert(err instanceof UsageError && re.test(err.message), `${argv.join(" ")}: ${err}`);
  }
});

Deno.test("parseConfig: pod mode flags", () => {
  const p = parseConfig([
    "--mode=node",
    "--mount-mode=pod",
    "--mount-timeout=90s",
    "--mount-image=reg/csi-jfs:1",
    "--namespace=csi-jfs",
    "--kubeconfig=/root/.kube/config",
  ], host);
  assert(p.kind === "run");
  assertEquals(
    [
      p.config.mountMode,
      p.config.mountTimeoutMs,
      p.config.mountImage,
      p.config.namespace,
      p.config.kubeconfig,
    ],
    ["pod", 90_000, "reg/csi-jfs:1", "csi-jfs", "/root/.kube/config"],
  );
  const d = parseConfig(["--mode=node"], host);
  assert(d.kind === "run");
  assertEquals(d.config.mountTimeoutMs, 60_000);
  for (
    const [argv, re] of [
      [["--mode=node", "--mount-timeout=0s"], /too short/],
      [["--mode=node", "--namespace=Bad_NS"], /not a namespace name/],
      [["--mode=controller", "--mount-image=x"], /does not apply/],
    ] as Array<[string[], RegExp]>
  ) {
    try {
      parseConfig(argv, host);
      throw new Error(`accepted ${argv.join(" ")}`);
    } catch (e) {
      assert(e instanceof UsageError && re.test(e.message), `${argv.join(" ")}: ${e}`);
    }
  }
});

Deno.test("parseConfig: operations flags (metrics, doctor)", async (t) => {
  const run = (args: string[]) => {
    const p = parseConfig(args, host);
    assert(p.kind === "run");
    return p.config;
  };
  await t.step("metrics off by default, on for the serving modes", () => {
    assertEquals(run(["--mode=node"]).metricsAddress, undefined);
    assertEquals(run(["--mode=node", "--metrics-address=:9810"]).metricsAddress, ":9810");
    assertEquals(run(["--mode=controller", "--metrics-address=127.0.0.1:0"]).metricsAddress, "127.0.0.1:0");
  });
  await t.step("the doctor's flags and defaults", () => {
    const c = run(["--mode=doctor"]);
    assertEquals([c.kubeletDir, c.output, c.fix], ["/var/lib/kubelet", "text", undefined]);
    const d = run([
      "--mode=doctor",
      "--kubelet-dir=/var/lib/k0s/kubelet",
      "--output=json",
      "--fix",
      "--nodeid=n",
    ]);
    assertEquals([d.kubeletDir, d.output, d.fix, d.nodeId], ["/var/lib/k0s/kubelet", "json", true, "n"]);
  });
  const bad: Array<[string[], RegExp]> = [
    [["--mode=node", "--metrics-address=9810"], /--metrics-address: "9810" is not host:port/],
    [["--mode=node", "--metrics-address=h:99999"], /--metrics-address/],
    [["--mode=mount-supervisor", "--metrics-address=:1"], /does not apply to --mode=mount-supervisor/],
    [["--mode=node", "--fix"], /--fix does not apply to --mode=node/],
    [["--mode=doctor", "--output=yaml"], /--output/],
    [["--mode=doctor", "--kubelet-dir=var/lib/kubelet"], /--kubelet-dir/],
  ];
  for (const [args, re] of bad) {
    await t.step(args.join(" "), () => {
      try {
        parseConfig(args, host);
        throw new Error("accepted");
      } catch (e) {
        assert(e instanceof UsageError && re.test(e.message), String(e));
      }
    });
  }
});
