import { useState } from 'preact/hooks';
import type { Store } from '../app/store.js';
import { useStore } from './hooks.js';
import { Auth } from './Auth.js';
import { ChatList } from './ChatList.js';
import { Conversation } from './Conversation.js';
import { Devices } from './Devices.js';

export function App({ store }: { store: Store }) {
  useStore(store);
  const [panel, setPanel] = useState<'none' | 'devices'>('none');
  if (!store.session.current) return <Auth store={store} />;
  const open = store.openChatId ? store.chats.get(store.openChatId) : undefined;
  return (
    <div class={`shell ${open ? 'has-open' : ''}`}>
      <ConnectionBanner store={store} />
      <aside class="sidebar" aria-label="Chats">
        <ChatList store={store} onDevices={() => setPanel('devices')} />
      </aside>
      <main class="main">
        {open ? (
          <Conversation key={open.chat.chatId} store={store} cs={open} />
        ) : (
          <div class="empty-main">
            <p>Select a chat, or start one with a username.</p>
          </div>
        )}
      </main>
      {panel === 'devices' && <Devices store={store} onClose={() => setPanel('none')} />}
    </div>
  );
}

function ConnectionBanner({ store }: { store: Store }) {
  const text = store.state === 'online' ? '' : store.state === 'connecting' ? 'Connecting…' : 'Offline';
  return (
    <div class={`conn-banner ${text ? 'show' : ''}`} role="status" aria-live="polite" data-state={store.state}>
      {text}
    </div>
  );
}
