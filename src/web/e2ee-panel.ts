/**
 * The encryption panel behind the lock in the call bar: the state in words,
 * the security code in large digits grouped for reading aloud, and (in the
 * same panel) the encryption group's roster. The lock itself shows the state
 * by icon, colour and a word, so it is never read from colour alone.
 */

/** What the page knows of the call's encryption. */
export type E2eeStatus = 'on' | 'pending' | 'error' | 'off';

/** What `E2eePanel.show` renders. */
export interface E2eeShown {
  readonly status: E2eeStatus;
  /** The MLS group's security code (six groups of five digits); shown only with `status: 'on'`. */
  readonly securityCode?: string;
  /** A sentence with the details (the error, or how to use the code). */
  readonly message?: string;
}

/** The security code's digits in groups of five, for reading aloud ([] when it has no digits). */
export function securityCodeGroups(code: string): string[] {
  const digits = code.replace(/\D/g, '');
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 5) groups.push(digits.slice(i, i + 5));
  return groups;
}

/** The state in words: the panel's heading, and the lock's label. */
export function e2eeWords(status: E2eeStatus): { readonly headline: string; readonly short: string } {
  switch (status) {
    case 'on':
      return { headline: 'This call is end-to-end encrypted', short: 'Encrypted' };
    case 'pending':
      return { headline: 'Agreeing on end-to-end encryption keys…', short: 'Agreeing keys' };
    case 'error':
      return { headline: 'End-to-end encryption has a problem', short: 'Encryption error' };
    case 'off':
      return { headline: 'This call is not end-to-end encrypted', short: 'Not encrypted' };
  }
}

/** The panel's elements. */
export interface E2eePanelElements {
  /** The lock button in the call bar (data-state drives its icon and colour). */
  readonly button: HTMLButtonElement;
  readonly label: HTMLElement;
  readonly headline: HTMLElement;
  /** The detail sentence (#e2ee). */
  readonly message: HTMLElement;
  /** The security code's grid of groups. */
  readonly code: HTMLElement;
  /** What to do with the code; shown with it. */
  readonly codeHelp: HTMLElement;
}

/** The lock and its panel. */
export class E2eePanel {
  readonly #el: E2eePanelElements;

  constructor(elements: E2eePanelElements) {
    this.#el = elements;
  }

  /** Shows a new state; a code is shown only while encrypted ('on'). */
  show(shown: E2eeShown): void {
    const { status, securityCode, message } = shown;
    const words = e2eeWords(status);
    this.#el.button.dataset.state = status;
    this.#el.button.title = `${words.headline}: open the encryption details`;
    this.#el.button.setAttribute('aria-label', `${words.short}: encryption details`);
    this.#el.label.textContent = words.short;
    this.#el.headline.textContent = words.headline;
    const groups = status === 'on' && securityCode !== undefined ? securityCodeGroups(securityCode) : [];
    this.#el.message.dataset.state = status;
    this.#el.message.textContent = message ?? '';
    // With the code on screen in large digits (and labelled for screen readers), the sentence that repeats it is not shown twice.
    this.#el.message.hidden = message === undefined || message === '' || groups.length > 0;
    this.#el.code.replaceChildren(
      ...groups.map((g) => {
        const span = document.createElement('span');
        span.className = 'code-group';
        span.textContent = g;
        return span;
      }),
    );
    this.#el.code.setAttribute('aria-label', `Security code: ${groups.join(' ')}`);
    this.#el.code.hidden = groups.length === 0;
    this.#el.codeHelp.hidden = groups.length === 0;
  }
}
