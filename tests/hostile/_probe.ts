import { call, CallError, mountCap, startDriver } from "../support/driver.ts";
const d = await startDriver();
const t0 = Date.now();
async function p(label: string, m: string, req: unknown, client = d.controller) {
  const s = Date.now();
  try {
    const r = await call(client, m, req);
    console.log(label, "=> OK", JSON.stringify(r).slice(0, 300), Date.now() - s, "ms");
  } catch (e) {
    if (e instanceof CallError) {
      console.log(
        label,
        "=>",
        e.code,
        JSON.stringify(e.details.slice(0, 300)),
        e.details.length,
        Date.now() - s,
        "ms",
      );
    } else console.log(label, "=> THROW", e);
  }
}
try {
  await p("create legit", "CreateVolume", {
    name: "legit",
    capacity_range: { required_bytes: "1073741824" },
    volume_capabilities: [mountCap()],
    secrets: d.secrets,
  });
  await p("cap abc", "CreateVolume", {
    name: "capabc",
    capacity_range: { required_bytes: "abc" },
    volume_capabilities: [mountCap()],
    secrets: d.secrets,
  });
  await p("cap big", "CreateVolume", {
    name: "capbig",
    capacity_range: { required_bytes: "9223372036854775808" },
    volume_capabilities: [mountCap()],
    secrets: d.secrets,
  });
  await p("cap max", "CreateVolume", {
    name: "capmax",
    capacity_range: { required_bytes: "9223372036854775807" },
    volume_capabilities: [mountCap()],
    secrets: d.secrets,
  });
  await p("cap neg", "CreateVolume", {
    name: "capneg",
    capacity_range: { required_bytes: "-1" },
    volume_capabilities: [mountCap()],
    secrets: d.secrets,
  });
  await p("cap 1.5", "CreateVolume", {
    name: "capf",
    capacity_range: { required_bytes: 1.5 },
    volume_capabilities: [mountCap()],
    secrets: d.secrets,
  });
  await p("mountOptions param", "CreateVolume", {
    name: "mo",
    volume_capabilities: [mountCap("SINGLE_NODE_WRITER", ["-d"])],
    parameters: { mountOptions: "subdir=/,secret-key=HostileMO" },
    secrets: d.secrets,
  });
  await p("envs leak", "CreateVolume", {
    name: "envs",
    volume_capabilities: [mountCap()],
    secrets: { ...d.secrets, envs: "{TOKEN=HostileEnvValue}" },
  });
  await p("other fs name", "CreateVolume", {
    name: "ofs",
    volume_capabilities: [mountCap()],
    secrets: { ...d.secrets, name: "otherfs" },
  });
  const big = "jfs1/" + "a".repeat(10240);
  await p("publish 10k", "NodePublishVolume", {
    volume_id: big,
    staging_target_path: d.dir + "/nost",
    target_path: d.dir + "/t",
    volume_capability: mountCap(),
  }, d.node);
  await p("stats /", "NodeGetVolumeStats", { volume_id: "x", volume_path: "/" }, d.node);
  await Deno.writeTextFile(d.dir + "/afile", "x");
  await p("unpub file", "NodeUnpublishVolume", { volume_id: "x", target_path: d.dir + "/afile" }, d.node);
  console.log("afile exists", await Deno.stat(d.dir + "/afile").then(() => true, () => false));
  await p("bad name 4k", "DeleteVolume", {
    volume_id: "jfs1/itfs/delete/x",
    secrets: { ...d.secrets, name: "A".repeat(4000) },
  });
  await p("redis pw", "DeleteVolume", {
    volume_id: "jfs1/itfs/delete/x",
    secrets: { name: "itfs", metaurl: "redis://:HostileMetaPw@127.0.0.1:1/3" },
  });
  const root = (await Array.fromAsync(Deno.readDir(`${d.dir}/state/controller/clients`)))[0]?.name;
  const fs = `${d.dir}/state/controller/clients/${root}/mnt`;
  await Deno.mkdir(d.dir + "/../sentprobe", { recursive: true });
  await Deno.chmod(d.dir + "/../sentprobe", 0o700);
  await Deno.symlink(d.dir + "/../sentprobe", fs + "/evil");
  await p("create evil", "CreateVolume", {
    name: "evil",
    volume_capabilities: [mountCap()],
    secrets: d.secrets,
  });
  console.log("sentprobe mode", ((await Deno.stat(d.dir + "/../sentprobe")).mode! & 0o777).toString(8));
  await p("stage evil", "NodeStageVolume", {
    volume_id: "jfs1/itfs/retain/evil",
    staging_target_path: d.dir + "/stg/evil",
    volume_capability: mountCap(),
    secrets: d.secrets,
  }, d.node);
  console.log(
    (await new Deno.Command("bash", {
      args: ["-c", `grep ${d.dir} /proc/self/mountinfo; ls -la ${d.dir}/stg/evil`],
    }).output()).stdout.length,
  );
  console.log(
    new TextDecoder().decode(
      (await new Deno.Command("bash", {
        args: [
          "-c",
          `grep -c '' /proc/self/mountinfo; grep sentprobe /proc/self/mountinfo; ls -la ${d.dir}/stg/evil; ls -la ${fs}`,
        ],
      }).output()).stdout,
    ),
  );
  await p("unstage evil", "NodeUnstageVolume", {
    volume_id: "jfs1/itfs/retain/evil",
    staging_target_path: d.dir + "/stg/evil",
  }, d.node);
  await Deno.remove(d.dir + "/../sentprobe", { recursive: true });
  console.log((await d.logs()).split("\n").filter((l) => /Hostile/.test(l)).join("\n"));
} finally {
  console.log("total", Date.now() - t0);
  await d.stop();
}
