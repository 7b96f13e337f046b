import { useState } from 'preact/hooks';
import { errorText, type Store } from '../app/store.js';

export function Auth({ store }: { store: Store }) {
  const [mode, setMode] = useState<'login' | 'signup'>('login');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (mode === 'signup') await store.signUp(username.trim().toLowerCase(), password, displayName.trim());
      else await store.logIn(username.trim().toLowerCase(), password);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="auth">
      <form class="auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <div class="brand" aria-hidden="true">
          <img src="/favicon.svg" alt="" width="40" height="40" />
        </div>
        <h1 id="auth-title">{mode === 'login' ? 'Log in to Parley' : 'Create your Parley account'}</h1>
        {store.notice && <p class="notice" role="alert">{store.notice}</p>}
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            required
            minLength={3}
            maxLength={32}
            pattern="[a-z0-9_.]+"
            title="3–32 lowercase letters, digits, _ or ."
            value={username}
            onInput={(e) => setUsername((e.target as HTMLInputElement).value)}
          />
        </label>
        {mode === 'signup' && (
          <label>
            Display name
            <input name="displayName" autoComplete="name" maxLength={64} value={displayName} onInput={(e) => setDisplayName((e.target as HTMLInputElement).value)} />
          </label>
        )}
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === 'signup' ? 'new-password' : 'current-password'}
            required
            minLength={8}
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {mode === 'login' ? 'Log in' : 'Sign up'}
        </button>
        <p class="switch">
          {mode === 'login' ? 'New here?' : 'Have an account?'}{' '}
          <button type="button" class="link" onClick={() => { setMode(mode === 'login' ? 'signup' : 'login'); setError(undefined); }}>
            {mode === 'login' ? 'Create an account' : 'Log in'}
          </button>
        </p>
      </form>
    </div>
  );
}
