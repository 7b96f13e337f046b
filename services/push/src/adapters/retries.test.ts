import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';
import { fromRetryEvent, toRetryEvent } from './retries.js';
import type { Notification, Registration } from '../domain/types.js';

const n: Notification = {
  id: 'nid', userId: 'u', deviceId: 'd', chatId: 'c', seq: 9n, messageId: 'm', badge: 3, collapseKey: 'k', title: 'Alice', body: 'hi', hasPreview: true, createdAt: 1_700_000_000_123,
};
const reg: Registration = { userId: 'u', deviceId: 'd', platform: 'webpush', token: '{"endpoint":"https://x"}', updatedAt: 0 };

describe('push.retry.v1 records', () => {
  it('round-trip a deferred attempt through the wire format (fractional times become whole ms)', () => {
    const ev = toRetryEvent({ reg, n, attempt: 3, notBefore: 1_700_000_005_000.4, reason: 'http_429' });
    const back = fromRetryEvent(fromBinary(eventsV1.PushRetryEventSchema, toBinary(eventsV1.PushRetryEventSchema, ev)));
    expect(back).toEqual({ n, platform: 'webpush', token: reg.token, attempt: 3, notBefore: 1_700_000_005_001 });
  });
  it('records this version cannot use are refused', () => {
    const ok = toRetryEvent({ reg, n, attempt: 2, notBefore: 1, reason: 'x' });
    expect(fromRetryEvent(create(eventsV1.PushRetryEventSchema, { ...ok, platform: 'sms' }))).toBeUndefined();
    expect(fromRetryEvent(create(eventsV1.PushRetryEventSchema, { ...ok, attempt: 0 }))).toBeUndefined();
    expect(fromRetryEvent(create(eventsV1.PushRetryEventSchema, { ...ok, deviceId: '' }))).toBeUndefined();
  });
});
