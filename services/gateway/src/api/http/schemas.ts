// Request and response schemas of the HTTP routes (protocol.md §2, §7), as TypeBox (JSON Schema).
import { Type, type TSchema } from '@sinclair/typebox';

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    retryAfterMs: Type.Optional(Type.Integer()),
    field: Type.Optional(Type.String()),
  }),
});

/** Every route may answer these. */
export const errorResponses = { '4xx': ErrorResponse, '5xx': ErrorResponse } as const;

export function responses<R extends Record<number, TSchema>>(ok: R): R & typeof errorResponses {
  return { ...ok, ...errorResponses };
}

export const Username = Type.String({ pattern: '^[a-z0-9_.]{3,32}$' });

export const CreateAccountBody = Type.Object({
  username: Username,
  // 8–256 bytes is checked by session (bytes, not characters); here only a sanity bound.
  password: Type.String({ minLength: 1, maxLength: 256 }),
  displayName: Type.Optional(Type.String({ maxLength: 64 })),
});
export const CreateAccountReply = Type.Object({ userId: Type.String() });

export const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 64 }),
  password: Type.String({ minLength: 1, maxLength: 256 }),
  deviceName: Type.Optional(Type.String({ maxLength: 64 })),
});
export const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 512 }) });
export const TokensReply = Type.Object({
  userId: Type.String(),
  deviceId: Type.String(),
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer(),
});

export const DevicesReply = Type.Object({
  devices: Type.Array(
    Type.Object({ deviceId: Type.String(), deviceName: Type.String(), createdAt: Type.String(), lastSeenAt: Type.String() }),
  ),
});
export const DeviceParams = Type.Object({ deviceId: Type.String({ minLength: 1, maxLength: 128 }) });

export const UserReply = Type.Object({ userId: Type.String(), username: Type.String(), displayName: Type.String() });
export const UserParams = Type.Object({ userId: Type.String({ minLength: 1, maxLength: 128 }) });
export const UserQuery = Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }) });

export const CreateUploadBody = Type.Object({
  contentType: Type.String({ minLength: 1, maxLength: 255 }),
  size: Type.Integer({ minimum: 1 }),
  sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }),
  fileName: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});
export const CreateUploadReply = Type.Object({
  mediaId: Type.String(),
  upload: Type.Object({
    method: Type.Literal('PUT'),
    url: Type.String(),
    headers: Type.Record(Type.String(), Type.String()),
  }),
  expiresAt: Type.String(),
});
export const MediaParams = Type.Object({ mediaId: Type.String({ minLength: 1, maxLength: 128 }) });
export const MediaReply = Type.Object({
  media: Type.Object({
    mediaId: Type.String(),
    contentType: Type.String(),
    size: Type.Integer(),
    sha256: Type.String(),
    fileName: Type.Optional(Type.String()),
    state: Type.String(),
    createdAt: Type.String(),
  }),
});

export const WsQuery = Type.Object({ access_token: Type.Optional(Type.String()) });

export const Empty = Type.Object({});
export const NoContent = Type.Null();
