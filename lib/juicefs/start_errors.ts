/**
 * juicefs log lines that mean a client being started will not mount by waiting: its metadata
 * engine refuses the connection, does not resolve, or refuses the credentials. juicefs keeps
 * retrying such a connection (its first warning for a refused redis comes about 40 s after it
 * starts), so a stage that waits for the mount alone would use up its whole timeout, and the
 * user would see the reason only after it.
 */
const LEVEL = /<(WARNING|ERROR|FATAL)>/;
const CAUSE =
  /connect: connection refused|no such host|server misbehaving|NOAUTH|WRONGPASS|invalid password|authentication failed|password authentication|access denied for user/i;

/** Whether `line` (a juicefs log line, possibly behind the supervisor's prefix) is such a failure. */
export function isUnreachableMeta(line: string): boolean {
  return LEVEL.test(line) && CAUSE.test(line);
}
