// proto/csi.proto must be wire- and schema-identical to the upstream CSI v1.12.0
// csi.proto: both are parsed with protobufjs and every service, method, message,
// enum and extension is reduced to a plain description and compared.
// The upstream file comes from the Go module proxy (`go mod download`, cached by Go).
// protobufjs is imported directly (it is @grpc/proto-loader's parser, same pinned version
// as hack/gen-types.sh); deno.json has no bare mapping for it, hence the inline specifier.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import protobuf from "protobufjs";
import descriptorJson from "protobufjs/google/protobuf/descriptor.json" with { type: "json" };
import { CSI_PROTO_PATH, loadCsi } from "./proto.ts";

const SPEC_MODULE = "github.com/container-storage-interface/spec@v1.12.0";

// protobufjs bundles timestamp/wrappers but not descriptor.proto (needed for the
// custom options); register it the way @grpc/proto-loader does.
protobuf.common("descriptor", descriptorJson.nested.google.nested.protobuf.nested);

async function upstreamProtoPath(): Promise<string> {
  const out = await new Deno.Command("go", {
    args: ["mod", "download", "-json", SPEC_MODULE],
    cwd: Deno.env.get("TMPDIR") ?? "/tmp",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`go mod download ${SPEC_MODULE} failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  }
  const dir = (JSON.parse(text) as { Dir?: string }).Dir;
  ok(dir, `no Dir in go mod download output: ${text}`);
  return `${dir}/csi.proto`;
}

function loadRoot(file: string): protobuf.Root {
  const root = new protobuf.Root();
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return root;
}

type Desc = Record<string, unknown>;
interface Described {
  services: Desc;
  methods: Desc;
  messages: Desc;
  enums: Desc;
  extensions: Desc;
  namespaces: Desc;
}

const typeName = (resolved: protobuf.ReflectionObject | null, raw: string) =>
  resolved ? resolved.fullName : raw;

function describe(root: protobuf.Root): Described {
  const d: Described = { services: {}, methods: {}, messages: {}, enums: {}, extensions: {}, namespaces: {} };
  const csi = root.lookup("csi.v1");
  ok(csi instanceof protobuf.Namespace, "package csi.v1 not found");
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Service) {
        d.services[obj.fullName] = {
          options: obj.options,
          methods: obj.methodsArray.map((m) => m.name).sort(),
        };
        for (const m of obj.methodsArray) {
          d.methods[m.fullName] = {
            requestType: typeName(m.resolvedRequestType, m.requestType),
            responseType: typeName(m.resolvedResponseType, m.responseType),
            requestStream: !!m.requestStream,
            responseStream: !!m.responseStream,
            options: m.options,
          };
        }
      } else if (obj instanceof protobuf.Type) {
        d.messages[obj.fullName] = {
          options: obj.options,
          fields: [...obj.fieldsArray].sort((a, b) => a.id - b.id).map((f) => ({
            name: f.name,
            id: f.id,
            type: typeName(f.resolvedType, f.type),
            repeated: f.repeated,
            map: f.map,
            keyType: f instanceof protobuf.MapField ? f.keyType : undefined,
            oneof: f.partOf ? f.partOf.name : undefined,
            options: f.options,
          })),
          oneofs: Object.fromEntries(obj.oneofsArray.map((o) => [o.name, [...o.oneof]])),
          nested: obj.nestedArray.map((n) => n.name).sort(),
        };
        walk(obj);
      } else if (obj instanceof protobuf.Enum) {
        d.enums[obj.fullName] = {
          options: obj.options,
          values: obj.values,
          valuesOptions: obj.valuesOptions,
        };
      } else if (obj instanceof protobuf.Field) {
        d.extensions[obj.fullName] = {
          extend: typeName(obj.extensionField?.parent ?? null, obj.extend ?? ""),
          id: obj.id,
          type: obj.type,
          options: obj.options,
        };
      } else if (obj instanceof protobuf.Namespace) {
        d.namespaces[obj.fullName] = obj.options;
        walk(obj);
      } else {
        throw new Error(`unexpected reflection object ${obj.toString()}`);
      }
    }
  };
  d.namespaces[csi.fullName] = csi.options;
  walk(csi);
  return d;
}

const [ours, upstream] = await (async () => {
  const theirs = describe(loadRoot(await upstreamProtoPath()));
  return [describe(loadRoot(CSI_PROTO_PATH)), theirs] as const;
})();

// Table: one test per kind of definition; each asserts the same set of names and an
// identical description per name (the failure names the first differing entry).
const KINDS: { kind: keyof Described; min: number }[] = [
  { kind: "namespaces", min: 1 }, // package csi.v1 and its file options (go_package)
  { kind: "extensions", min: 7 }, // csi_secret, alpha_* on descriptor options
  { kind: "services", min: 5 }, // Identity, Controller, GroupController, SnapshotMetadata, Node
  { kind: "methods", min: 30 },
  { kind: "messages", min: 80 },
  { kind: "enums", min: 8 },
];

for (const { kind, min } of KINDS) {
  Deno.test(`csi.proto matches upstream v1.12.0: ${kind}`, () => {
    const a = ours[kind], b = upstream[kind];
    deepStrictEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${kind}: names differ`);
    ok(Object.keys(b).length >= min, `${kind}: only ${Object.keys(b).length} found upstream`);
    for (const name of Object.keys(b)) deepStrictEqual({ [name]: a[name] }, { [name]: b[name] });
  });
}

const EXPECTED_METHODS = {
  Identity: ["GetPluginInfo", "GetPluginCapabilities", "Probe"],
  Controller: [
    "CreateVolume",
    "DeleteVolume",
    "ControllerPublishVolume",
    "ControllerUnpublishVolume",
    "ValidateVolumeCapabilities",
    "ListVolumes",
    "GetCapacity",
    "ControllerGetCapabilities",
    "CreateSnapshot",
    "DeleteSnapshot",
    "ListSnapshots",
    "GetSnapshot",
    "ControllerExpandVolume",
    "ControllerGetVolume",
    "ControllerModifyVolume",
  ],
  Node: [
    "NodeStageVolume",
    "NodeUnstageVolume",
    "NodePublishVolume",
    "NodeUnpublishVolume",
    "NodeGetVolumeStats",
    "NodeExpandVolume",
    "NodeGetCapabilities",
    "NodeGetInfo",
  ],
} as const;

Deno.test("loadCsi() exposes Identity/Controller/Node with the CSI method paths", () => {
  const csi = loadCsi();
  for (
    const [svc, methods] of Object.entries(EXPECTED_METHODS) as [
      keyof typeof EXPECTED_METHODS,
      readonly string[],
    ][]
  ) {
    const service = csi.csi.v1[svc].service as unknown as Record<string, { path: string }>;
    deepStrictEqual(Object.keys(service).sort(), [...methods].sort(), `${svc} methods`);
    for (const m of methods) strictEqual(service[m]?.path, `/csi.v1.${svc}/${m}`);
  }
  strictEqual(csi.csi.v1.Controller.service.CreateVolume.path, "/csi.v1.Controller/CreateVolume");
});

Deno.test("loadCsi() decodes with LOADER_OPTIONS: int64 as string, enum names, oneof name, defaults", () => {
  const m = loadCsi().csi.v1.Controller.service.CreateVolume;
  const bytes = m.requestSerialize({
    name: "pvc-1",
    capacity_range: { required_bytes: "1073741824" },
    volume_capabilities: [{
      mount: { fs_type: "juicefs" },
      access_mode: { mode: "MULTI_NODE_MULTI_WRITER" },
    }],
    secrets: { token: "s" },
  });
  const req = m.requestDeserialize(bytes);
  strictEqual(req.capacity_range?.required_bytes, "1073741824");
  strictEqual(req.capacity_range?.limit_bytes, "0");
  const cap = req.volume_capabilities[0];
  strictEqual(cap?.access_type, "mount");
  strictEqual(cap?.access_mode?.mode, "MULTI_NODE_MULTI_WRITER");
  deepStrictEqual(req.secrets, { token: "s" });
  deepStrictEqual(req.parameters, {});
});
