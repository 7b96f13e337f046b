import { create } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';
import { collapseKeyOf, notificationId, renderNotification, truncate } from './content.js';

const ev = (o: Partial<eventsV1.PushRequestEvent>) =>
  create(eventsV1.PushRequestEventSchema, { userId: 'u', deviceId: 'd', chatId: 'c', seq: 5n, messageId: 'm', senderUserId: 's', createdAt: 1n, ...o });

describe('content rules', () => {
  it('text: sender name and a truncated preview', () => {
    const n = renderNotification(ev({ bodyKind: eventsV1.PushBodyKind.TEXT, textPreview: 'x'.repeat(150) }), 3, { previews: true, previewMaxChars: 100 }, 'Alice');
    expect(n).toMatchObject({ title: 'Alice', hasPreview: true, badge: 3, chatId: 'c' });
    expect([...n.body]).toHaveLength(100);
    expect(n.body.endsWith('…')).toBe(true);
  });
  it('ciphertext and previews-off never carry content', () => {
    for (const [kind, previews] of [[eventsV1.PushBodyKind.CIPHERTEXT, true], [eventsV1.PushBodyKind.TEXT, false]] as const) {
      const n = renderNotification(ev({ bodyKind: kind, textPreview: 'secret' }), 1, { previews, previewMaxChars: 100 }, 'Alice');
      expect(n).toMatchObject({ title: 'New message', body: '', hasPreview: false });
    }
  });
  it('ids and collapse keys fit every provider', () => {
    expect(notificationId('d', 'c', 1n)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(notificationId('d', 'c', 1n)).toBe(notificationId('d', 'c', 1n));
    expect(collapseKeyOf('c'.repeat(300))).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(truncate('  a  b ', 10)).toBe('a b');
  });
});
