/** Linux x86_64 glibc values of the flags, errnos and limits the FFI bindings (libc_ffi.ts) use. */
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SCM_RIGHTS = 1;
export const SHUT_RDWR = 2;
export const MSG_CTRUNC = 0x8;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const EINTR = 4;
export const EBADF = 9;
export const EAGAIN = 11;
export const EINVAL = 22;
export const ENOENT = 2;
export const ECONNABORTED = 103;
export const ECONNREFUSED = 111;

/** Longest path that fits in sockaddr_un.sun_path (108 bytes including the NUL). */
export const UNIX_PATH_MAX = 107;
