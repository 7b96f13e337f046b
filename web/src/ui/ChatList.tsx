import { useState } from 'preact/hooks';
import { errorText, type ChatState, type Store } from '../app/store.js';
import { dayOrTime } from './hooks.js';
import { systemText } from './system.js';

export function ChatList({ store, onDevices }: { store: Store; onDevices: () => void }) {
  const [mode, setMode] = useState<'none' | 'direct' | 'group'>('none');
  const me = store.session.current!;
  return (
    <div class="chatlist">
      <header class="bar">
        <div class="me">
          <span class="avatar" aria-hidden="true">{initial(store.users.get(me.userId)?.displayName || me.username)}</span>
          <span class="me-text">
            <span class="me-display">{store.users.get(me.userId)?.displayName || me.username}</span>
            <span class="me-name muted" data-testid="me">{me.username}</span>
          </span>
        </div>
        <nav class="bar-actions" aria-label="Account">
          <button type="button" onClick={() => setMode(mode === 'direct' ? 'none' : 'direct')} aria-expanded={mode === 'direct'}>
            New chat
          </button>
          <button type="button" onClick={() => setMode(mode === 'group' ? 'none' : 'group')} aria-expanded={mode === 'group'}>
            New group
          </button>
          <button type="button" onClick={onDevices} data-opens="devices">
            Devices
          </button>
          <button type="button" onClick={() => void store.logOut()}>
            Log out
          </button>
        </nav>
      </header>
      {mode === 'direct' && <NewDirect store={store} done={() => setMode('none')} />}
      {mode === 'group' && <NewGroup store={store} done={() => setMode('none')} />}
      <ul class="chats" aria-label="Chat list">
        {store.chatList().map((cs) => (
          <ChatItem key={cs.chat.chatId} store={store} cs={cs} />
        ))}
        {store.synced && store.chats.size === 0 && <li class="hint">No chats yet. Start one with “New chat”.</li>}
      </ul>
    </div>
  );
}

function initial(s: string): string {
  return (s.trim()[0] ?? '?').toUpperCase();
}

function ChatItem({ store, cs }: { store: Store; cs: ChatState }) {
  const title = store.chatTitle(cs);
  const last = store.lastMessage(cs);
  const unread = store.unread(cs);
  const typing = store.typingNames(cs);
  const preview = typing.length
    ? cs.chat.type === 'group'
      ? `${typing.join(', ')} typing…`
      : 'typing…'
    : last
      ? last.kind === 'system'
        ? systemText(store, last)
        : `${last.sender.userId === store.me ? 'You: ' : cs.chat.type === 'group' ? `${store.name(last.sender.userId)}: ` : ''}${last.body.text ?? (last.attachments.length ? 'Attachment' : '')}`
      : '';
  const active = store.openChatId === cs.chat.chatId;
  return (
    <li>
      <button
        type="button"
        class={`chat-item ${active ? 'active' : ''}`}
        aria-current={active ? 'true' : undefined}
        data-chat-id={cs.chat.chatId}
        data-unread={unread}
        onClick={() => store.openChat(cs.chat.chatId)}
      >
        <span class={`avatar ${cs.chat.type}`} aria-hidden="true">
          {initial(title)}
        </span>
        <span class="chat-text">
          <span class="chat-title">{title}</span>
          <span class={`chat-preview ${typing.length ? 'typing' : ''}`}>{preview}</span>
        </span>
        <span class="chat-meta">
          {last && <time dateTime={last.createdAt}>{dayOrTime(last.createdAt)}</time>}
          {unread > 0 && (
            <span class="badge" aria-label={`${unread} unread`}>
              {unread}
            </span>
          )}
        </span>
      </button>
    </li>
  );
}

function NewDirect({ store, done }: { store: Store; done: () => void }) {
  const [username, setUsername] = useState('');
  const [error, setError] = useState<string>();
  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    setError(undefined);
    try {
      const id = await store.startDirect(username);
      store.openChat(id);
      done();
    } catch (err) {
      setError(errorText(err));
    }
  }
  return (
    <form class="inline-form" onSubmit={submit} aria-label="New direct chat">
      <label>
        Username
        <input autoFocus required value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} placeholder="who to chat with" />
      </label>
      <button type="submit" class="primary">
        Start chat
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function NewGroup({ store, done }: { store: Store; done: () => void }) {
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const [error, setError] = useState<string>();
  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    setError(undefined);
    try {
      const names = members.split(/[\s,]+/).filter(Boolean);
      const id = await store.createGroup(name.trim(), names);
      store.openChat(id);
      done();
    } catch (err) {
      setError(errorText(err));
    }
  }
  return (
    <form class="inline-form" onSubmit={submit} aria-label="New group">
      <label>
        Group name
        <input autoFocus required maxLength={128} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Members (usernames, comma separated)
        <input value={members} onInput={(e) => setMembers((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" class="primary">
        Create group
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
