/**
 * The meeting chat panel: a toggle in the controls with an unread count, the
 * messages with their senders' names (from the encryption group's
 * credentials, never from the bridge), and an input that sends on Enter
 * (Shift+Enter for a new line). Messages are end-to-end encrypted MLS
 * application messages (docs/e2ee.md#chat). Text is only ever set with
 * `textContent`: a message cannot inject markup.
 */
import { CHAT_TEXT_MAX, chatTextProblem, isGeobridgeError } from '../sdk/index.js';

/** A message as the panel shows it. */
export interface ChatShown {
  readonly name: string;
  readonly text: string;
  readonly sentAt: number;
  readonly self: boolean;
}

/** The panel's elements (index.html's chat block). */
export interface ChatElements {
  readonly panel: HTMLElement;
  readonly toggle: HTMLButtonElement;
  readonly unread: HTMLElement;
  readonly list: HTMLElement;
  readonly form: HTMLFormElement;
  readonly input: HTMLTextAreaElement;
  readonly status: HTMLElement;
  readonly close: HTMLButtonElement;
}

/** A message the panel keeps at most: older ones scroll out of the page (the others still have them). */
const SHOWN_MAX = 500;

export class ChatView {
  readonly #e: ChatElements;
  #unread = 0;
  #open = false;

  /** `send` is the session's `sendChat`: false when there is no encryption group to send to yet; throws CHAT_INVALID. */
  constructor(elements: ChatElements, send: (text: string) => boolean) {
    this.#e = elements;
    const e = elements;
    e.input.maxLength = CHAT_TEXT_MAX * 2; // UTF-16 units; the real limit (code points) is checked on send
    e.toggle.onclick = () => {
      this.#setOpen(!this.#open);
    };
    e.close.onclick = () => {
      this.#setOpen(false);
    };
    e.input.onkeydown = (event) => {
      // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition is not a send.
      if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
      event.preventDefault();
      e.form.requestSubmit();
    };
    e.form.onsubmit = (event) => {
      event.preventDefault();
      const text = e.input.value;
      if (text.trim() === '') return;
      const problem = chatTextProblem(text);
      if (problem !== undefined) {
        this.#say(`Not sent: ${problem}.`);
        return;
      }
      try {
        if (!send(text)) {
          this.#say('Not sent: the chat opens once you are in the meeting’s encryption group.');
          return;
        }
      } catch (error) {
        this.#say(isGeobridgeError(error) ? `Not sent: ${error.message}` : 'Not sent.');
        return;
      }
      e.input.value = '';
      this.#say(undefined);
    };
  }

  /** Appends a message; counts it as unread while the panel is closed (our own never are). */
  add(message: ChatShown): void {
    const item = document.createElement('li');
    item.className = 'chat-message';
    item.dataset.self = String(message.self);
    const head = document.createElement('p');
    head.className = 'chat-meta';
    const name = document.createElement('span');
    name.className = 'chat-name';
    name.textContent = message.self ? `${message.name} (you)` : message.name;
    const time = document.createElement('time');
    time.className = 'chat-time';
    const at = new Date(message.sentAt);
    time.dateTime = at.toISOString();
    time.textContent = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    head.append(name, ' ', time);
    const body = document.createElement('p');
    body.className = 'chat-text';
    body.textContent = message.text;
    item.append(head, body);
    const list = this.#e.list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(item);
    while (list.children.length > SHOWN_MAX) list.firstElementChild?.remove();
    if (atBottom || message.self) list.scrollTop = list.scrollHeight;
    if (!this.#open && !message.self) {
      this.#unread += 1;
      this.#renderUnread();
    }
  }

  /** One of our messages did not reach the others. */
  undelivered(reason: string): void {
    this.#say(`A message was not delivered (${reason}); send it again.`);
  }

  /** A message relayed to us could not be read (it does not verify): dropped, never shown. */
  unreadable(): void {
    this.#say('A message could not be verified as coming from a member of the encryption group and was not shown.');
  }

  #setOpen(open: boolean): void {
    this.#open = open;
    this.#e.panel.hidden = !open;
    this.#e.toggle.setAttribute('aria-expanded', String(open));
    if (open) {
      this.#unread = 0;
      this.#renderUnread();
      this.#e.list.scrollTop = this.#e.list.scrollHeight;
      this.#e.input.focus();
    }
  }

  #renderUnread(): void {
    const { unread, toggle } = this.#e;
    unread.hidden = this.#unread === 0;
    unread.textContent = this.#unread > 99 ? '99+' : String(this.#unread);
    toggle.title = this.#unread === 0 ? 'Chat' : `Chat (${this.#unread} unread)`;
  }

  #say(text: string | undefined): void {
    this.#e.status.hidden = text === undefined;
    this.#e.status.textContent = text ?? '';
  }
}
