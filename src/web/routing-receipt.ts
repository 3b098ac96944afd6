/**
 * "Routing receipt": a button in the encryption panel that saves the routing
 * receipt file of this call (the SDK's `Room.routingReceipt`) as
 * `geobridge-receipt-<meeting>-<yyyymmdd-hhmmss>.json`: every route the
 * broker gave, the bridges that proved they were reached, and the log's
 * proofs, which `geobridge receipt verify` checks later, offline.
 */
import { receiptFileName, type RoutingReceiptFile } from '../sdk/index.js';

/** What the control says it is, next to it and once a file is saved. */
export const RECEIPT_HELP = 'Proof of where your call was routed, checkable with `geobridge receipt verify`.';

/** What the button needs from the page. */
export interface RoutingReceiptOptions {
  /** Where the section goes (the encryption panel: what can be checked about this call). */
  readonly container: HTMLElement;
  readonly meeting: string;
  /** Builds the file (Room.routingReceipt). */
  readonly build: () => Promise<RoutingReceiptFile>;
  /** Told of every file saved, and every failure, for the page's timeline. */
  readonly onOutcome: (outcome: { readonly saved: string; readonly routes: number } | { readonly error: string }) => void;
}

/** Adds the "Routing receipt" section (a heading, the line that says what it is, the button, a status line) and saves the file on click. */
export function wireRoutingReceipt(options: RoutingReceiptOptions): HTMLButtonElement {
  const section = document.createElement('section');
  section.className = 'routing-receipt';
  section.setAttribute('aria-labelledby', 'routing-receipt-title');
  const title = document.createElement('h3');
  title.id = 'routing-receipt-title';
  title.className = 'roster-title';
  title.textContent = 'Where your call was routed';
  const help = document.createElement('p');
  help.id = 'routing-receipt-help';
  help.className = 'panel-help';
  help.textContent = RECEIPT_HELP;
  const button = document.createElement('button');
  button.id = 'routing-receipt';
  button.type = 'button';
  button.className = 'chip';
  button.setAttribute('aria-describedby', help.id);
  const label = document.createElement('span');
  label.className = 'chip-label';
  label.textContent = 'Routing receipt';
  button.append(label);
  const status = document.createElement('p');
  status.id = 'routing-receipt-status';
  status.className = 'panel-help';
  status.setAttribute('role', 'status');
  status.hidden = true;
  section.append(title, help, button, status);
  options.container.append(section);

  const say = (text: string): void => {
    status.textContent = text;
    status.hidden = false;
  };
  button.addEventListener('click', () => {
    button.disabled = true;
    label.textContent = 'Preparing receipt…';
    const now = new Date();
    options
      .build()
      .then((file) => {
        const name = receiptFileName(options.meeting, now);
        download(name, `${JSON.stringify(file, null, 2)}\n`);
        say(`Saved ${name}, with ${String(file.routes.length)} ${file.routes.length === 1 ? 'route' : 'routes'}.`);
        options.onOutcome({ saved: name, routes: file.routes.length });
      })
      .catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        say(`No routing receipt: ${message}`);
        options.onOutcome({ error: message });
      })
      .finally(() => {
        button.disabled = false;
        label.textContent = 'Routing receipt';
      });
  });
  return button;
}

/** Saves `text` as a file named `name` (a link with `download`, clicked). */
function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // After the click has started the download.
  setTimeout(() => {
    URL.revokeObjectURL(url);
  }, 1000);
}
