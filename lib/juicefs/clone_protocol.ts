/**
 * The Clone request of a JuiceFS mount's control file and its reply (see clone.ts). No
 * imports: the clone helper process (clone_helper.ts) loads it alone.
 */
const CMD_CLONE = 1006;
/** Keep uid, gid, mode and times: a restored volume must look like its source. */
const CLONE_MODE_PRESERVE_ATTR = 0x02;
const PROGRESS = 0xfe;
const NAME_MAX = 255;

/** The clone message for the control file. */
export function cloneMessage(
  srcIno: bigint,
  srcParentIno: bigint,
  dstParentIno: bigint,
  name: string,
): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  if (nameBytes.length === 0 || nameBytes.length > NAME_MAX || name.includes("/")) {
    throw new Error(`clone: bad destination name ${JSON.stringify(name)}`);
  }
  const size = 8 + 8 + 8 + 1 + nameBytes.length + 2 + 1;
  const buf = new Uint8Array(8 + size);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, CMD_CLONE);
  dv.setUint32(4, size);
  dv.setBigUint64(8, srcIno);
  dv.setBigUint64(16, srcParentIno);
  dv.setBigUint64(24, dstParentIno);
  dv.setUint8(32, nameBytes.length);
  buf.set(nameBytes, 33);
  const at = 33 + nameBytes.length;
  dv.setUint16(at, 0); // umask: unused with PRESERVE_ATTR
  dv.setUint8(at + 2, CLONE_MODE_PRESERVE_ATTR);
  return buf;
}

/**
 * Consumes the reply stream: progress frames, then one errno byte. Returns the errno once it
 * has arrived, undefined while more is to come; `pending` keeps a partial frame.
 */
export function parseReply(pending: number[], chunk: Uint8Array): number | undefined {
  pending.push(...chunk);
  while (pending.length > 0) {
    if (pending.length === 1) return pending.shift()!;
    if (pending[0] !== PROGRESS) return pending[0]!;
    if (pending.length < 17) return undefined;
    pending.splice(0, 17);
  }
  return undefined;
}
