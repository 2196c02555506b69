// Errors the public API throws or hands to `error` handlers. Every message says what was
// wrong, with what value, and what is allowed or what to do.

/** Linux errno numbers (the core's numbering; hosts translate theirs at the edge). */
export const ERRNO: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 4: "EINTR", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
  22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 32: "EPIPE", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL",
  101: "ENETUNREACH", 103: "ECONNABORTED", 104: "ECONNRESET", 105: "ENOBUFS", 107: "ENOTCONN",
  110: "ETIMEDOUT", 111: "ECONNREFUSED", 113: "EHOSTUNREACH",
};
export const ERRNO_BY_NAME: Record<string, number> = Object.fromEntries(Object.entries(ERRNO).map(([n, s]) => [s, Number(n)]));

export function errnoName(errno: number): string { return ERRNO[errno] ?? `errno ${errno}`; }

export type ReactorErrorCode =
  | "ERR_INVALID_OPTION" | "ERR_CLOSED" | "ERR_CONNECTION_CLOSED" | "ERR_WRITE_AFTER_END"
  | "ERR_NO_SLOT" | "ERR_FD_BUDGET" | "ERR_HOST_UNAVAILABLE" | "ERR_LISTEN" | "ERR_SOCKET"
  | "ERR_CORE_ASSERTION" | "ERR_TOO_MANY_LISTENERS" | "ERR_TIMERS";

export class ReactorError extends Error {
  readonly code: ReactorErrorCode | string;
  readonly errno?: number;
  readonly syscall?: string;
  constructor(code: ReactorErrorCode | string, message: string, extra: { errno?: number; syscall?: string } = {}) {
    super(message);
    this.name = "ReactorError";
    this.code = code;
    if (extra.errno !== undefined) this.errno = extra.errno;
    if (extra.syscall !== undefined) this.syscall = extra.syscall;
  }
}

/** An error from the network, as handed to `error(conn, err)`: code is the errno name. */
export function socketError(errno: number, what: string): ReactorError {
  const name = errnoName(errno);
  return new ReactorError(name, `${what}: ${name}`, { errno, syscall: what });
}
