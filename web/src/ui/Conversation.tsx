import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Message } from '@parley/client';
import { errorText, isUnavailable, type ChatState, type Pending, type Store, type Tick } from '../app/store.js';
import { lastSeenText, membersText, timeOf } from './hooks.js';
import { systemText } from './system.js';
import { GroupInfo } from './GroupInfo.js';
import { Attachment } from './Attachment.js';
import { Clock, Lock, Paperclip } from './icons.js';

const TICK_LABEL: Record<Tick, string> = { pending: 'Sending', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not sent' };
const TICK_GLYPH: Record<Tick, string> = { pending: '', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

export function Conversation({ store, cs }: { store: Store; cs: ChatState }) {
  const [replyTo, setReplyTo] = useState<Message | undefined>();
  const [info, setInfo] = useState(false);
  const list = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const prevHeight = useRef(0);
  const prevFirst = useRef(0);
  const loading = useRef(false);
  const messages = store.sortedMessages(cs);
  const pending = store.pendingFor(cs.chat.chatId);
  const first = messages[0]?.seq ?? 0;
  const last = messages[messages.length - 1]?.seq ?? 0;

  // Keep the view still when older messages are prepended, and follow new ones when at the bottom.
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    if (prevFirst.current && first < prevFirst.current) el.scrollTop += el.scrollHeight - prevHeight.current;
    else if (atBottom.current) el.scrollTop = el.scrollHeight;
    prevFirst.current = first;
    prevHeight.current = el.scrollHeight;
  }, [first, last, pending.length]);

  useEffect(() => {
    store.markRead();
  }, [last]);

  function onScroll(): void {
    const el = list.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    prevHeight.current = el.scrollHeight;
    if (el.scrollTop < 120 && cs.hasMoreBefore && !loading.current) {
      loading.current = true;
      store
        .loadOlder(cs.chat.chatId)
        .catch(() => undefined)
        .finally(() => (loading.current = false));
    }
    if (atBottom.current) store.markRead();
  }

  const bySeq = (seq: number) => cs.messages.get(seq);
  const typing = store.typingNames(cs);
  const peer = store.peer(cs);
  // nothing (rather than stale data) while the presence service is unavailable
  const pres = peer && store.presenceAvailable !== false ? store.presence.get(peer) : undefined;
  const subtitle = typing.length
    ? cs.chat.type === 'group'
      ? `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`
      : 'typing…'
    : cs.chat.type === 'group'
      ? membersText(cs.chat.members.length)
      : pres?.status === 'online'
        ? 'online'
        : pres?.lastSeen
          ? lastSeenText(pres.lastSeen)
          : '';

  return (
    <section class={`conversation ${info ? 'with-info' : ''}`} aria-label={`Conversation with ${store.chatTitle(cs)}`}>
      <header class="bar conv-bar">
        <button type="button" class="back" aria-label="Back to chats" onClick={() => store.openChat(undefined)}>
          ←
        </button>
        <div class="conv-title">
          <h2 data-testid="chat-title">{store.chatTitle(cs)}</h2>
          <p class={`subtitle ${typing.length ? 'typing' : ''}`} data-testid="chat-subtitle" aria-live="polite">
            {subtitle}
          </p>
        </div>
        {cs.chat.type === 'group' && (
          <button type="button" onClick={() => setInfo(!info)} aria-expanded={info}>
            Group info
          </button>
        )}
      </header>
      <div class="messages" ref={list} onScroll={onScroll} role="log" aria-label="Messages" tabIndex={0}>
        {cs.hasMoreBefore && <p class="hint">Scroll up for older messages</p>}
        {messages.map((m) =>
          m.kind === 'system' ? (
            <p key={m.seq} class="system-msg" data-seq={m.seq}>
              {systemText(store, m)}
            </p>
          ) : (
            <Bubble key={m.seq} store={store} cs={cs} m={m} quoted={m.replyTo ? bySeq(m.replyTo) : undefined} onReply={() => setReplyTo(m)} />
          ),
        )}
        {pending.map((p) => (
          <PendingBubble key={p.clientMsgId} store={store} p={p} quoted={p.replyTo ? bySeq(p.replyTo) : undefined} />
        ))}
      </div>
      {info && cs.chat.type === 'group' && <GroupInfo store={store} cs={cs} onClose={() => setInfo(false)} />}
      {cs.left ? (
        <p class="left-note">You are no longer a member of this group.</p>
      ) : (
        <Composer store={store} cs={cs} replyTo={replyTo} clearReply={() => setReplyTo(undefined)} />
      )}
    </section>
  );
}

function Quote({ store, m, seq }: { store: Store; m: Message | undefined; seq: number }) {
  return (
    <blockquote class="quote">
      {m ? (
        <>
          <strong>{store.name(m.sender.userId)}</strong> {m.body.text ?? (m.attachments.length ? 'Attachment' : '')}
        </>
      ) : (
        `Message #${seq}`
      )}
    </blockquote>
  );
}

function Bubble({ store, cs, m, quoted, onReply }: { store: Store; cs: ChatState; m: Message; quoted: Message | undefined; onReply: () => void }) {
  const mine = m.sender.userId === store.me;
  const tick = mine ? store.tick(cs, m) : undefined;
  return (
    <article class={`bubble ${mine ? 'mine' : 'theirs'}`} data-seq={m.seq} data-status={tick} aria-label={`${store.name(m.sender.userId)} at ${timeOf(m.createdAt)}`}>
      {!mine && cs.chat.type === 'group' && <span class="sender">{store.name(m.sender.userId)}</span>}
      {m.replyTo !== undefined && <Quote store={store} m={quoted} seq={m.replyTo} />}
      {m.attachments.map((a) => (
        <Attachment key={a.mediaId} store={store} a={a} />
      ))}
      {m.body.text !== undefined && <p class="text">{m.body.text}</p>}
      {m.body.ciphertext !== undefined && <p class="text muted">
          <Lock /> Encrypted message
        </p>}
      <footer class="meta">
        <button type="button" class="link reply-btn" onClick={onReply} aria-label="Reply to this message">
          Reply
        </button>
        <time dateTime={m.createdAt}>{timeOf(m.createdAt)}</time>
        {tick && (
          <span class={`tick ${tick}`} aria-label={TICK_LABEL[tick]} title={TICK_LABEL[tick]} data-testid="tick">
            {TICK_GLYPH[tick]}
          </span>
        )}
      </footer>
    </article>
  );
}

function PendingBubble({ store, p, quoted }: { store: Store; p: Pending; quoted: Message | undefined }) {
  const tick: Tick = p.failed ? 'failed' : 'pending';
  return (
    <article class="bubble mine pending" data-status={tick} data-client-msg-id={p.clientMsgId}>
      {p.replyTo !== undefined && <Quote store={store} m={quoted} seq={p.replyTo} />}
      {p.attachments?.length ? (
        <p class="text muted">
          <Paperclip /> Attachment
        </p>
      ) : null}
      {p.text && <p class="text">{p.text}</p>}
      <footer class="meta">
        {p.failed && (
          <>
            <span class="error">{p.failed}</span>
            <button type="button" class="link" onClick={() => store.discardPending(p.clientMsgId)}>
              Discard
            </button>
          </>
        )}
        <time dateTime={p.createdAt}>{timeOf(p.createdAt)}</time>
        <span class={`tick ${tick}`} aria-label={TICK_LABEL[tick]} title={TICK_LABEL[tick]} data-testid="tick">
          {tick === 'pending' ? <Clock /> : TICK_GLYPH[tick]}
        </span>
      </footer>
    </article>
  );
}

function Composer({ store, cs, replyTo, clearReply }: { store: Store; cs: ChatState; replyTo: Message | undefined; clearReply: () => void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  const input = useRef<HTMLTextAreaElement>(null);
  const file = useRef<HTMLInputElement>(null);
  const chatId = cs.chat.chatId;

  useEffect(() => {
    if (replyTo) input.current?.focus();
  }, [replyTo]);

  function send(): void {
    const t = (input.current?.value ?? text).trim();
    if (!t) return;
    store.send(chatId, t, replyTo?.seq);
    setText('');
    clearReply();
  }

  async function onFile(): Promise<void> {
    const f = file.current?.files?.[0];
    if (!f) return;
    setError(undefined);
    try {
      await store.attach(chatId, f, text.trim());
      setText('');
    } catch (err) {
      // The media service is not there yet: say nothing loud, just hide the button.
      if (!isUnavailable(err)) setError(errorText(err));
    } finally {
      if (file.current) file.current.value = '';
    }
  }

  const uploads = [...store.uploads.values()];
  return (
    <div class="composer-wrap">
      {replyTo && (
        <div class="reply-bar">
          <Quote store={store} m={replyTo} seq={replyTo.seq} />
          <button type="button" class="link" onClick={clearReply} aria-label="Cancel reply">
            ✕
          </button>
        </div>
      )}
      {uploads.map((f, i) => (
        <progress key={i} class="upload" max={1} value={f} aria-label="Uploading attachment" />
      ))}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        {store.mediaAvailable && (
          <>
            <input ref={file} type="file" id={`file-${chatId}`} class="visually-hidden" onChange={() => void onFile()} />
            <label for={`file-${chatId}`} class="attach" title="Attach a photo or file">
              <Paperclip />
              <span class="visually-hidden">Attach a photo or file</span>
            </label>
          </>
        )}
        <label class="visually-hidden" for={`msg-${chatId}`}>
          Message
        </label>
        <textarea
          ref={input}
          id={`msg-${chatId}`}
          rows={1}
          placeholder="Type a message"
          value={text}
          onInput={(e) => {
            setText((e.target as HTMLTextAreaElement).value);
            if ((e.target as HTMLTextAreaElement).value) store.typed(chatId);
            else store.stopTyping(chatId);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send();
            } else if (e.key === 'Escape' && replyTo) clearReply();
          }}
          onBlur={() => store.stopTyping(chatId)}
        />
        <button type="submit" class="primary send" disabled={!text.trim()}>
          Send
        </button>
      </form>
    </div>
  );
}
