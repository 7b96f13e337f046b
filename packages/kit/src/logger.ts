// pino JSON logs with secrets redacted; child loggers per subsystem (`logger.child({ subsystem: 'kafka' })`).
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

const SECRET_KEYS = ['password', 'token', 'accessToken', 'refreshToken', 'access_token', 'refresh_token', 'secretKey', 'privateKey', 'secret'];
const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'sec-websocket-protocol'];

/** Redacted at the top level, one level down (`{ user: { password } }`) and in request/response headers. */
export const REDACT_PATHS = [
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`]),
  ...SECRET_HEADERS.flatMap((h) => [
    `headers["${h}"]`,
    `*.headers["${h}"]`,
    `req.headers["${h}"]`,
    `request.headers["${h}"]`,
    `res.headers["${h}"]`,
  ]),
  'authorization',
  '*.authorization',
];

export const REDACTED = '[redacted]';

/** `destination` is for tests; services log JSON to stdout. */
export function createLogger(name: string, level: string = 'info', destination?: DestinationStream): Logger {
  const opts = {
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
