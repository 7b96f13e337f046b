import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText, type Store } from '../app/store.js';
import { dayOrTime } from './hooks.js';

export function Devices({ store, onClose }: { store: Store; onClose: () => void }) {
  const [error, setError] = useState<string>();
  const close = useRef<HTMLButtonElement>(null);
  // What opened the dialog, taken while rendering (the effect below runs later, when the focus may have moved).
  const opener = useRef(document.activeElement as HTMLElement | null);
  useEffect(() => {
    store.loadDevices().catch((err: unknown) => setError(errorText(err)));
    // A modal: focus moves into it, and Escape closes it wherever the focus is (also after the focused
    // entry was removed).
    close.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      // Back to what opened it; if a re-render replaced that button, to the one that is there now.
      const back = opener.current?.isConnected ? opener.current : document.querySelector<HTMLElement>('[data-opens="devices"]');
      back?.focus();
    };
  }, []);
  const mine = store.session.current?.deviceId;
  return (
    <div class="overlay" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="devices" role="dialog" aria-modal="true" aria-labelledby="devices-title">
        <header class="bar">
          <h3 id="devices-title">Your devices</h3>
          <button type="button" ref={close} onClick={onClose} aria-label="Close devices">
            ✕
          </button>
        </header>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <ul aria-label="Devices">
          {(store.devices ?? []).map((d) => (
            <li key={d.deviceId} data-device-id={d.deviceId}>
              <span class="device-name">
                {d.deviceName || 'Unnamed device'}
                {d.deviceId === mine && <em> (this device)</em>}
              </span>
              <span class="muted">active {dayOrTime(d.lastSeenAt)}</span>
              <button
                type="button"
                class="danger"
                onClick={() => store.removeDevice(d.deviceId).catch((err: unknown) => setError(errorText(err)))}
                aria-label={`Remove ${d.deviceName || 'device'}${d.deviceId === mine ? ' (this device, logs out)' : ''}`}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}
