/**
 * Loads the CSI v1 protocol (proto/csi.proto) for @grpc/grpc-js.
 *
 * The types come from lib/csi/generated/ (hack/gen-types.sh), generated with the
 * same options as LOADER_OPTIONS, so e.g. int64 fields are strings, enums are
 * their value names, and a set oneof is named by a virtual field.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import type { ProtoGrpcType } from "./generated/csi.ts";

export type { ProtoGrpcType };

/** Keep in step with the generator flags in hack/gen-types.sh. */
export const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const satisfies protoLoader.Options;

/**
 * Path of proto/csi.proto, resolved relative to this module so it works both
 * from a source checkout and from `deno compile --include proto/`.
 */
export const CSI_PROTO_PATH: string = fileURLToPath(new URL("../../proto/csi.proto", import.meta.url));

/**
 * Loads csi.proto and returns the typed grpc-js package object:
 * `loadCsi().csi.v1.Identity.service` etc.
 *
 * google/protobuf/{descriptor,timestamp,wrappers}.proto need no include dir:
 * protobufjs bundles timestamp/wrappers, and @grpc/proto-loader registers its
 * bundled descriptor.proto, so nothing is read from disk or network for them.
 */
export function loadCsi(): ProtoGrpcType {
  const definition = protoLoader.loadSync(CSI_PROTO_PATH, LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
}
