/**
 * "Copy invite": the link to this meeting, which is this page's own address
 * with its `#invite=` fragment. Copied with the Clipboard API; where the
 * browser refuses (no permission, not a secure context), the link is shown
 * selected in a read-only field for the person to copy themselves.
 */

/** The invite link to share: this page's origin and path with its invite, and nothing else of its query (no dev switches). */
export function inviteLink(href: string): string {
  const url = new URL(href);
  const invite = new URLSearchParams(url.hash.slice(1)).get('invite') ?? '';
  return `${url.origin}${url.pathname}#invite=${invite}`;
}

/** Wires the button: copy, then say so in `status` (a role="status" element) for a moment. */
export function wireCopyInvite(button: HTMLButtonElement, field: HTMLInputElement, status: HTMLElement): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const say = (text: string): void => {
    status.textContent = text;
    status.hidden = false;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      status.hidden = true;
      status.textContent = '';
    }, 4000);
  };
  button.addEventListener('click', () => {
    const link = inviteLink(location.href);
    const fallback = (): void => {
      field.value = link;
      field.hidden = false;
      field.focus();
      field.select();
      say('Copy the selected link (Ctrl+C or ⌘C)');
    };
    // navigator.clipboard is missing outside secure contexts (plain http on another host).
    if (typeof navigator.clipboard === 'undefined') {
      fallback();
      return;
    }
    navigator.clipboard.writeText(link).then(() => {
      field.hidden = true;
      say('Link copied');
    }, fallback);
  });
}
