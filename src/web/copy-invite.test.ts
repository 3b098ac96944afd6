import { describe, expect, it } from 'vitest';
import { inviteLink } from './copy-invite.js';

describe('the invite link to copy', () => {
  it('is the page’s own address with its invite fragment', () => {
    expect(inviteLink('https://meet.example/join#invite=eyJ.abc.def')).toBe('https://meet.example/join#invite=eyJ.abc.def');
  });

  it('leaves out the query, so a dev switch like ?e2ee=off is not passed on', () => {
    expect(inviteLink('http://127.0.0.1:8080/join?e2ee=off#invite=tok')).toBe('http://127.0.0.1:8080/join#invite=tok');
  });
});
