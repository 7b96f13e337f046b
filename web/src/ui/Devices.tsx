import { useEffect, useState } from 'preact/hooks';
import { errorText, type Store } from '../app/store.js';
import { dayOrTime } from './hooks.js';

export function Devices({ store, onClose }: { store: Store; onClose: () => void }) {
  const [error, setError] = useState<string>();
  useEffect(() => {
    store.loadDevices().catch((err: unknown) => setError(errorText(err)));
  }, []);
  const mine = store.session.current?.deviceId;
  return (
    <div class="overlay" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="devices" role="dialog" aria-modal="true" aria-labelledby="devices-title" onKeyDown={(e) => e.key === 'Escape' && onClose()}>
        <header class="bar">
          <h3 id="devices-title">Your devices</h3>
          <button type="button" onClick={onClose} aria-label="Close devices" autoFocus>
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
