import { status } from "@grpc/grpc-js";

/** gRPC status codes the driver answers with, by name. */
export const Code = status;
export type Code = status;

/**
 * An error whose gRPC code is known where it is raised. Anything else reaching the
 * adapter becomes INTERNAL exactly once, there.
 */
export class CsiError extends Error {
  constructor(readonly code: Code, message: string) {
    super(message);
    this.name = "CsiError";
  }
}

export const invalidArgument = (msg: string): CsiError => new CsiError(Code.INVALID_ARGUMENT, msg);
export const notFound = (msg: string): CsiError => new CsiError(Code.NOT_FOUND, msg);
export const alreadyExists = (msg: string): CsiError => new CsiError(Code.ALREADY_EXISTS, msg);
export const failedPrecondition = (msg: string): CsiError => new CsiError(Code.FAILED_PRECONDITION, msg);
export const aborted = (msg: string): CsiError => new CsiError(Code.ABORTED, msg);
export const outOfRange = (msg: string): CsiError => new CsiError(Code.OUT_OF_RANGE, msg);
export const unavailable = (msg: string): CsiError => new CsiError(Code.UNAVAILABLE, msg);

export function codeName(code: number): string {
  return Code[code] ?? `CODE_${code}`;
}

/** The code an arbitrary thrown value maps to at the adapter. */
export function codeOf(err: unknown): Code {
  return err instanceof CsiError ? err.code : Code.INTERNAL;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
