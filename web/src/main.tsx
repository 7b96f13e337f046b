import { render } from 'preact';
import { App } from './ui/App.js';
import { Store } from './app/store.js';
import './style.css';

const store = new Store(location.origin);
// For the browser tests and curious developers: the live state (read only by convention).
(window as unknown as { parley: Store }).parley = store;
void store.start();
render(<App store={store} />, document.getElementById('app')!);
