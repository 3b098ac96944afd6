/**
 * The call's side panels (participants, encryption, and more to come): one
 * open at a time, each toggled by its button (aria-expanded), closed by its
 * close button or Escape. A drawer on the right on wide screens, a sheet
 * over the call on a phone (style.css).
 */

interface Panel {
  readonly button: HTMLButtonElement;
  readonly panel: HTMLElement;
}

const panels: Panel[] = [];

function setOpen(p: Panel, open: boolean): void {
  p.panel.hidden = !open;
  p.button.setAttribute('aria-expanded', String(open));
}

/** Makes `button` toggle `panel`; any `[data-close]` button inside the panel closes it. */
export function wirePanel(button: HTMLButtonElement, panel: HTMLElement): void {
  const p: Panel = { button, panel };
  panels.push(p);
  button.setAttribute('aria-controls', panel.id);
  setOpen(p, false);
  button.addEventListener('click', () => {
    const open = panel.hidden !== false;
    for (const other of panels) setOpen(other, other === p && open);
    if (open) panel.focus();
  });
  for (const close of panel.querySelectorAll<HTMLButtonElement>('[data-close]')) {
    close.addEventListener('click', () => {
      setOpen(p, false);
      button.focus();
    });
  }
  if (panels.length === 1) {
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      for (const other of panels) if (!other.panel.hidden) setOpen(other, false);
    });
  }
}
