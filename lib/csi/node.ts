import { join } from "node:path";
import type { NodeStageVolumeRequest__Output } from "./generated/csi/v1/NodeStageVolumeRequest.ts";
import type { NodeUnstageVolumeRequest__Output } from "./generated/csi/v1/NodeUnstageVolumeRequest.ts";
import type { NodePublishVolumeRequest__Output } from "./generated/csi/v1/NodePublishVolumeRequest.ts";
import type { NodeUnpublishVolumeRequest__Output } from "./generated/csi/v1/NodeUnpublishVolumeRequest.ts";
import type { NodeGetVolumeStatsRequest__Output } from "./generated/csi/v1/NodeGetVolumeStatsRequest.ts";
import type { NodeGetVolumeStatsResponse } from "./generated/csi/v1/NodeGetVolumeStatsResponse.ts";
import type { NodeGetCapabilitiesResponse } from "./generated/csi/v1/NodeGetCapabilitiesResponse.ts";
import type { NodeGetInfoResponse } from "./generated/csi/v1/NodeGetInfoResponse.ts";
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "../errors.ts";
import { checkCapability, isReadOnlyMode } from "./capabilities.ts";
import { decodeVolumeId } from "../volume_id.ts";
import { settingsFromSecrets } from "../juicefs/settings.ts";
import { mountFlags } from "../juicefs/mount_options.ts";
import {
  checkedTargetKind,
  checkMountTarget,
  checkNameLengths,
  echo,
  removeMountDir,
  required,
  requiredPath,
  volumeSubdir,
} from "./node_paths.ts";
import { clientKey, clientUseFrom, type MountBackend } from "../clients/backend.ts";
import { mountPodSettings } from "../clients/pod_settings.ts";
import { mountAt, type Mounter, readTable } from "../mount/mounter.ts";
import { isJuiceFs, isReadOnly, type MountEntry, type MountTable } from "../mount/mountinfo.ts";
import type { KeyedLocks } from "../locks.ts";
import type { ClientReleaser } from "../clients/releaser.ts";
import { volumeStats } from "./volume_stats.ts";
import { VolumeLocks } from "./node_locks.ts";
import { clientTable, NodeMounts, rootOf, subdirFromId } from "./node_mounts.ts";
import { logger } from "../log.ts";

const log = logger("node");

export interface NodeDeps {
  nodeId: string;
  backend: MountBackend;
  mounter: Mounter;
  locks: KeyedLocks;
  releaser: ClientReleaser;
  /** Where verified binds are remembered across restarts (lib/csi/bind_records.ts); none: memory only. */
  bindRecordsDir?: string;
}

/**
 * Stages a volume by binding its directory from the node's shared client for the file
 * system, publishes by binding the staging path into the pod. Mount table first:
 * everything already done is success, broken mounts are cleaned and redone.
 */
export class NodeService {
  private volumes: VolumeLocks;
  private mounts: NodeMounts;

  constructor(private d: NodeDeps) {
    this.volumes = new VolumeLocks(d.locks);
    this.mounts = new NodeMounts(d.mounter, d.bindRecordsDir);
  }

  /** The node's clients; `table`: the mount table this call already read (else read once here). */
  private async clients(table?: MountTable) {
    const t = table ?? await readTable(this.d.mounter);
    return clientTable(t, await this.d.backend.list(t));
  }

  NodeGetInfo(): Promise<NodeGetInfoResponse> {
    return Promise.resolve({ node_id: this.d.nodeId, max_volumes_per_node: "0" });
  }

  NodeGetCapabilities(): Promise<NodeGetCapabilitiesResponse> {
    const types = [
      "STAGE_UNSTAGE_VOLUME",
      "GET_VOLUME_STATS",
      "VOLUME_CONDITION",
      "SINGLE_NODE_MULTI_WRITER",
    ] as const;
    return Promise.resolve({ capabilities: types.map((type) => ({ rpc: { type } })) });
  }

  /** The entry at `path` if it is healthy; a broken one is detached first. */
  /**
   * The entry at `path` if it is healthy; a broken one of this volume (a dead JuiceFS bind of
   * `root`, or one this process made for `id`) is detached first. Anything else stays.
   */
  private async healthyMountAt(
    path: string,
    id: string,
    root: string,
    table?: MountTable,
  ): Promise<MountEntry | undefined> {
    const entry = table ? table.at(path) : await mountAt(this.d.mounter, path);
    if (!entry) return undefined;
    if ((await this.d.mounter.health(path)) !== "corrupted") return entry;
    const ours = isJuiceFs(entry) && (entry.root === root || this.mounts.boundTo(path, entry) === id);
    if (!ours) return entry;
    log.warn("{path} is a broken mount (client gone); cleaning it up", { path });
    await this.d.mounter.unmountChecked(path, entry, { lazy: true });
    await this.mounts.forget(path);
    return undefined;
  }

  async NodeStageVolume(req: NodeStageVolumeRequest__Output): Promise<Record<string, never>> {
    const id = required(req.volume_id, "volume_id");
    const staging = requiredPath(req.staging_target_path, "staging_target_path");
    const cap = checkCapability(req.volume_capability);
    const settings = settingsFromSecrets(req.secrets);
    const ref = decodeVolumeId(id);
    if (ref && ref.fsName !== settings.name) {
      throw invalidArgument(
        `volume belongs to file system "${ref.fsName}" but the secrets describe "${settings.name}"`,
      );
    }
    const subdir = volumeSubdir(id, req.volume_context);
    const flags = mountFlags(cap.mount?.mount_flags ?? [], req.volume_context["mountOptions"]);
    // Mount Pod settings: StorageClass parameters (via CreateVolume) or a static PV's attributes.
    const podSettings = mountPodSettings(req.volume_context);
    return await this.volumes.exclusive(id, `volume ${echo(id)}`, async () => {
      await checkMountTarget(staging, "staging_target_path");
      const current = await this.healthyMountAt(staging, id, rootOf(subdir));
      if (current) {
        const fromClient = (await this.clients()).byDevice.has(current.device);
        const volume = current.root === rootOf(subdir) || this.mounts.boundTo(staging, current) === id;
        if (fromClient && volume) return {};
        throw alreadyExists(
          `staging path ${staging} already holds another mount (${current.source}${current.root})`,
        );
      }
      const spec = { settings, mountFlags: flags, podSettings };
      let clientPath: string | undefined;
      try {
        return await this.d.releaser.guard(clientKey(spec), async () => {
          const client = await this.d.backend.ensure(spec, clientUseFrom(id, req.volume_context));
          clientPath = client.mountPath;
          const source = subdir ? join(client.mountPath, subdir) : client.mountPath;
          const health = await this.d.mounter.health(source);
          if (health === "missing") {
            throw notFound(`volume directory /${subdir} does not exist in file system "${settings.name}"`);
          }
          const clientEntry = await mountAt(this.d.mounter, client.mountPath);
          if (!clientEntry || !isJuiceFs(clientEntry)) {
            throw failedPrecondition(
              `the client for "${settings.name}" is not mounted at ${client.mountPath}`,
            );
          }
          // A link planted inside the file system could bind any directory of the host: the
          // directory is opened without following any, then bound by its fd, then checked.
          const what = `volume directory /${subdir} of "${settings.name}"`;
          await this.mounts.bindVolume({
            volumeId: id,
            source: () => this.mounts.openVolumeDir(client.mountPath, subdir, what),
            mountPoint: staging,
            field: "staging_target_path",
            want: { device: clientEntry.device, root: rootOf(subdir) },
            what,
          });
          log.info("staged {id} at {staging} from client {key}", { id, staging, key: client.key });
          return {};
        });
      } catch (e) {
        // A client started for this stage alone must not outlive its failure.
        const own = clientPath ? await mountAt(this.d.mounter, clientPath) : undefined;
        if (own) await this.d.releaser.releaseIfUnused(own.device).catch(() => {});
        throw e;
      }
    });
  }

  async NodeUnstageVolume(req: NodeUnstageVolumeRequest__Output): Promise<Record<string, never>> {
    const id = required(req.volume_id, "volume_id");
    const staging = requiredPath(req.staging_target_path, "staging_target_path");
    await this.volumes.exclusive(id, `volume ${echo(id)}`, async () => {
      // A file is nothing we staged: leave it.
      if ((await checkedTargetKind(staging, "staging_target_path")) === "other") return;
      const entry = await mountAt(this.d.mounter, staging);
      if (entry) {
        const health = await this.d.mounter.health(staging);
        const broken = health === "corrupted";
        this.mounts.checkOwned({
          entry,
          path: staging,
          field: "staging_target_path",
          volumeId: id,
          subdir: subdirFromId(id),
          clients: await this.clients(),
          broken,
        });
        // A hung client's mount is busy as long as a probe of it waits in the kernel: detach it.
        await this.d.mounter.unmountChecked(staging, entry, { lazy: health !== "ok" });
      }
      await this.mounts.forget(staging);
      await removeMountDir(staging);
      await this.d.backend.forget?.(id).catch(() => {});
      if (entry) await this.d.releaser.releaseIfUnused(entry.device);
    });
    return {};
  }

  async NodePublishVolume(req: NodePublishVolumeRequest__Output): Promise<Record<string, never>> {
    const id = required(req.volume_id, "volume_id");
    const staging = requiredPath(req.staging_target_path, "staging_target_path");
    const target = requiredPath(req.target_path, "target_path");
    const cap = checkCapability(req.volume_capability);
    const readOnly = req.readonly || isReadOnlyMode(cap);
    // The volume's lock first, then the target's: an unstage of the volume cannot run beside.
    return await this.volumes.shared(
      id,
      `volume ${echo(id)}`,
      () =>
        this.d.locks.withLock(`publish:${target}`, `target ${echo(target)}`, async () => {
          await checkMountTarget(staging, "staging_target_path");
          await checkMountTarget(target, "target_path");
          // One read of the table for this call's lookups: the staging path is ours under the
          // volume's lock and the target under its own, and what is bound is checked by fd.
          const table = await readTable(this.d.mounter);
          const staged = table.at(staging);
          const clients = await this.clients(table);
          if (!staged || !isJuiceFs(staged) || clients.points.has(staging)) {
            throw failedPrecondition(
              `volume ${echo(id)} is not staged at ${echo(staging)}: NodeStageVolume first`,
            );
          }
          if ((await this.d.mounter.health(staging)) === "corrupted") {
            throw failedPrecondition(
              `the staging mount ${staging} of volume ${echo(id)} is broken: unstage and stage it again`,
            );
          }
          this.mounts.checkOwned({
            entry: staged,
            path: staging,
            field: "staging_target_path",
            volumeId: id,
            subdir: volumeSubdir(id, req.volume_context),
            clients,
            broken: false,
          });
          const current = await this.healthyMountAt(target, id, staged.root, table);
          if (current) {
            if (current.device === staged.device && current.root === staged.root) {
              if (isReadOnly(current) === readOnly) return {};
              throw alreadyExists(
                `target ${target} is already published with readonly=${isReadOnly(current)}`,
              );
            }
            throw alreadyExists(
              `target ${target} already holds another mount (${current.source}${current.root})`,
            );
          }
          await this.mounts.bindVolume({
            volumeId: id,
            source: () => this.d.mounter.openMount(staging, staged, "staging_target_path"),
            mountPoint: target,
            field: "target_path",
            want: { device: staged.device, root: staged.root },
            what: `the staging mount of volume ${echo(id)} at ${echo(staging)}`,
            readOnly,
          });
          log.info("published {id} at {target}{ro}", { id, target, ro: readOnly ? " read-only" : "" });
          return {};
        }),
    );
  }

  async NodeUnpublishVolume(req: NodeUnpublishVolumeRequest__Output): Promise<Record<string, never>> {
    const id = required(req.volume_id, "volume_id");
    const target = requiredPath(req.target_path, "target_path");
    await this.d.locks.withLock(`publish:${target}`, `target ${echo(target)}`, async () => {
      // A file is nothing we published: leave it.
      if ((await checkedTargetKind(target, "target_path")) === "other") return;
      const table = await readTable(this.d.mounter);
      const clients = await this.clients(table);
      // Stacked binds (a retried publish racing an unpublish) all come off, each checked.
      for (
        let entry = table.at(target);
        entry;
        entry = await mountAt(this.d.mounter, target)
      ) {
        const health = await this.d.mounter.health(target);
        const broken = health === "corrupted";
        this.mounts.checkOwned({
          entry,
          path: target,
          field: "target_path",
          volumeId: id,
          subdir: subdirFromId(id),
          clients,
          broken,
        });
        await this.d.mounter.unmountChecked(target, entry, { lazy: health !== "ok" });
        await this.mounts.forget(target);
      }
      await removeMountDir(target);
    });
    return {};
  }

  async NodeGetVolumeStats(req: NodeGetVolumeStatsRequest__Output): Promise<NodeGetVolumeStatsResponse> {
    const id = required(req.volume_id, "volume_id");
    const path = required(req.volume_path, "volume_path");
    if (!path.startsWith("/")) {
      throw notFound(`volume path "${echo(path)}" is not an absolute path; no volume is there`);
    }
    checkNameLengths(path, "volume_path");
    const health = await this.d.mounter.health(path);
    if (health === "missing") throw notFound(`volume path ${echo(path)} does not exist`);
    const entry = await mountAt(this.d.mounter, path);
    const ref = decodeVolumeId(id);
    const renamed = entry && this.mounts.boundTo(path, entry) === id; // a tenant renamed the bound directory
    if (!entry || !isJuiceFs(entry) || (ref && entry.root !== `/${ref.subdir}` && !renamed)) {
      throw notFound(`volume ${echo(id)} is not mounted at ${echo(path)}`);
    }
    if (health === "corrupted") {
      return {
        usage: [],
        volume_condition: {
          abnormal: true,
          message:
            `the JuiceFS mount at ${path} is broken (transport endpoint is not connected); the client is restarting or gone`,
        },
      };
    }
    return await volumeStats(path);
  }
}
