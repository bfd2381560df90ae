/**
 * The outcome codes the driver raises errors with. The numbers are gRPC's (the CSI edge
 * passes them through unchanged); the webhook edge maps them to HTTP statuses. Nothing
 * here depends on gRPC, so the pod backend and the webhook can raise coded errors too.
 */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = typeof Code[keyof typeof Code];
export type CodeName = keyof typeof Code;

const NAMES = new Map<number, CodeName>(
  Object.entries(Code).map(([name, n]) => [n, name as CodeName]),
);

/**
 * An error whose meaning is known where it is raised. Anything else reaching an edge
 * becomes INTERNAL exactly once, there.
 */
export class CodedError extends Error {
  constructor(readonly code: Code, message: string) {
    super(message);
    this.name = "CodedError";
  }
}

export const invalidArgument = (msg: string): CodedError => new CodedError(Code.INVALID_ARGUMENT, msg);
export const notFound = (msg: string): CodedError => new CodedError(Code.NOT_FOUND, msg);
export const alreadyExists = (msg: string): CodedError => new CodedError(Code.ALREADY_EXISTS, msg);
export const failedPrecondition = (msg: string): CodedError => new CodedError(Code.FAILED_PRECONDITION, msg);
export const aborted = (msg: string): CodedError => new CodedError(Code.ABORTED, msg);
export const outOfRange = (msg: string): CodedError => new CodedError(Code.OUT_OF_RANGE, msg);
export const unavailable = (msg: string): CodedError => new CodedError(Code.UNAVAILABLE, msg);
export const deadlineExceeded = (msg: string): CodedError => new CodedError(Code.DEADLINE_EXCEEDED, msg);

export function codeName(code: number): string {
  return NAMES.get(code) ?? `CODE_${code}`;
}

/** The code an arbitrary thrown value maps to at an edge. */
export function codeOf(err: unknown): Code {
  return err instanceof CodedError ? err.code : Code.INTERNAL;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The HTTP status an HTTP edge (the webhook) answers a coded error with. */
export function httpStatusOf(err: unknown): number {
  switch (codeOf(err)) {
    case Code.INVALID_ARGUMENT:
    case Code.OUT_OF_RANGE:
    case Code.FAILED_PRECONDITION:
      return 400;
    case Code.UNAUTHENTICATED:
      return 401;
    case Code.PERMISSION_DENIED:
      return 403;
    case Code.NOT_FOUND:
      return 404;
    case Code.ALREADY_EXISTS:
    case Code.ABORTED:
      return 409;
    case Code.RESOURCE_EXHAUSTED:
      return 429;
    case Code.UNIMPLEMENTED:
      return 501;
    case Code.UNAVAILABLE:
      return 503;
    case Code.DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}
