/**
 * The exchange between a mount-supervisor and the FUSE fd keeper of the node plugin.
 *
 * Why: the supervisor's own holder (fuse_fd_holder.ts) keeps a FUSE connection alive across
 * `kill -9` of juicefs, but in Mount Pod mode the supervisor dies with its pod (deleted,
 * OOMKilled), and with it the last fd of the connection: the kernel aborts it and every bind
 * of the mount in app pods answers ENOTCONN. The keeper (lib/clients/fuse_fd_keeper.ts) runs
 * in the node plugin, outside the pod, and holds a second copy of the fd, so the connection
 * outlives the pod; the replacement pod's supervisor takes a copy back and its juicefs serves
 * the same connection (binds recover without a remount). The node plugin restarting does not
 * interrupt anything either: the supervisor still holds its copy and offers it to the new
 * keeper as soon as its socket reappears.
 *
 * Transport: a SOCK_SEQPACKET unix socket `<keeper root>/<client key>/fd-keeper.sock` (0600,
 * directory 0700, root only) on a hostPath shared with the Mount Pod; one keeper socket per
 * client key. Sequenced packets keep message boundaries, so one sendmsg is one message and a
 * zero-length read is the end of the connection.
 *
 * Messages: an ASCII verb, "\n", then a binary body (possibly empty), at most MAX_MESSAGE
 * bytes, with SCM_RIGHTS fds where noted. The supervisor sends a request and waits for the one
 * answer before sending another; the keeper never speaks first.
 *
 *   FETCH\n                  → FUSE\n<setting> + [fuse fd]   the keeper holds a live connection;
 *                                                            the fd is a new reference, the
 *                                                            keeper keeps its own copy
 *                            → NONE\n                        it holds none (a dead one is dropped
 *                                                            first, never handed out)
 *   KEEP\n<setting> + [fd]   → OK\n                          the keeper now holds this fd (a dup of
 *                                                            the supervisor's), replacing any
 *                                                            other it held for the key
 *                            → ERR\n<reason>                not exactly one fd, not a FUSE device,
 *                                                            or its connection is already dead;
 *                                                            the fd is closed
 *   anything else            → ERR\n<reason>
 *
 * `setting` is the opaque blob juicefs hands over with its fd (the go-fuse InitIn the kernel
 * negotiated, 104 bytes in juicefs 1.3); a juicefs resuming a connection needs it back, since
 * the kernel does not send INIT twice.
 *
 * Life of a connection: the supervisor connects once it holds a FUSE fd, sends KEEP, and keeps
 * the connection open. The keeper never writes unprompted, so anything readable on an idle
 * connection means the keeper went away (EOF): the supervisor then retries connecting quietly
 * and, once a (new) keeper listens, sends KEEP again. A new fd in the supervisor (juicefs
 * mounted anew after the old connection died) is sent with KEEP on the same connection. A
 * supervisor that starts with no fd sends FETCH on a short-lived connection, before its first
 * juicefs starts.
 */

export const KEEPER_SOCKET_NAME = "fd-keeper.sock";
export const RELEASE_FILE_NAME = "release";
/** A verb line plus a setting; juicefs's own protocol caps the setting at 120 bytes. */
export const MAX_MESSAGE = 4096;
export const MAX_FDS = 2;

export type Verb = "FETCH" | "KEEP" | "FUSE" | "NONE" | "OK" | "ERR";

export interface Message {
  verb: string;
  /** Everything after the first "\n" (the setting, or an error's reason). */
  body: Uint8Array;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeMessage(verb: Verb, body: Uint8Array | string = new Uint8Array()): Uint8Array {
  const head = enc.encode(`${verb}\n`);
  const tail = typeof body === "string" ? enc.encode(body) : body;
  const out = new Uint8Array(head.byteLength + tail.byteLength);
  out.set(head);
  out.set(tail, head.byteLength);
  return out;
}

/** Splits a message at its first "\n"; a message without one is all verb (and answered ERR). */
export function decodeMessage(payload: Uint8Array): Message {
  const nl = payload.indexOf(0x0a);
  if (nl < 0) return { verb: dec.decode(payload.slice(0, 32)), body: new Uint8Array() };
  return { verb: dec.decode(payload.slice(0, nl)), body: payload.slice(nl + 1) };
}

export function bodyText(m: Message): string {
  return dec.decode(m.body);
}
