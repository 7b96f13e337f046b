import { useState } from 'preact/hooks';
import { errorText, type ChatState, type Store } from '../app/store.js';
import { membersText } from './hooks.js';

export function GroupInfo({ store, cs, onClose }: { store: Store; cs: ChatState; onClose: () => void }) {
  const chatId = cs.chat.chatId;
  const amAdmin = cs.chat.members.some((m) => m.userId === store.me && m.role === 'admin');
  const [name, setName] = useState(cs.chat.name ?? '');
  const [add, setAdd] = useState('');
  const [error, setError] = useState<string>();

  async function run(f: () => Promise<void>): Promise<void> {
    setError(undefined);
    try {
      await f();
    } catch (err) {
      setError(errorText(err));
    }
  }

  return (
    <div class="group-info" role="dialog" aria-label="Group info" onKeyDown={(e) => e.key === 'Escape' && onClose()}>
      <header class="bar">
        <h3>Group info</h3>
        <button type="button" onClick={onClose} aria-label="Close group info">
          ✕
        </button>
      </header>
      {amAdmin && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void run(() => store.renameGroup(chatId, name.trim()));
          }}
        >
          <label>
            Group name
            <input required maxLength={128} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </label>
          <button type="submit">Rename</button>
        </form>
      )}
      <h4>{membersText(cs.chat.members.length)}</h4>
      <ul class="members" aria-label="Members">
        {cs.chat.members.map((m) => (
          <li key={m.userId} data-user-id={m.userId}>
            <span class="member-name">{store.name(m.userId)}</span>
            {m.role === 'admin' && <span class="role">admin</span>}
            {amAdmin && m.userId !== store.me && (
              <span class="member-actions">
                <button type="button" onClick={() => void run(() => store.setRole(chatId, m.userId, m.role === 'admin' ? 'member' : 'admin'))}>
                  {m.role === 'admin' ? 'Make member' : 'Make admin'}
                </button>
                <button type="button" onClick={() => void run(() => store.removeMember(chatId, m.userId))} aria-label={`Remove ${store.name(m.userId)}`}>
                  Remove
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {amAdmin && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              await store.addMember(chatId, add);
              setAdd('');
            });
          }}
        >
          <label>
            Add member (username)
            <input required value={add} onInput={(e) => setAdd((e.target as HTMLInputElement).value)} />
          </label>
          <button type="submit">Add</button>
        </form>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button
        type="button"
        class="danger"
        onClick={() =>
          void run(async () => {
            await store.leave(chatId);
            onClose();
          })
        }
      >
        Leave group
      </button>
    </div>
  );
}
