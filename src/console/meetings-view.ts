/**
 * The meetings page: every meeting with someone in it, where it is held,
 * its participants by country and datacenter, its end-to-end encryption
 * (MLS epoch, members holding the group), its relays; and ending one,
 * after a confirmation that says what it does (the broker audits it).
 */
import type { ConsoleMeeting } from '../protocol/console-answers.js';

/** Counts of participants by country and datacenter, in words: "DE → eu-central: 2". */
export function participantLines(meeting: ConsoleMeeting): string[] {
  const counts = new Map<string, number>();
  for (const p of meeting.participants) counts.set(`${p.country} → ${p.datacenter}`, (counts.get(`${p.country} → ${p.datacenter}`) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([where, n]) => `${where}: ${n}`);
}

/** The meeting's end-to-end encryption in words: its MLS epoch and how many of its participants hold the group. */
export function e2eeText(meeting: ConsoleMeeting): string {
  const { e2ee } = meeting;
  const n = meeting.participants.length;
  if (e2ee === null) return 'not end-to-end encrypted: nobody holds an MLS group';
  const all = e2ee.members >= n ? (n === 1 ? 'its participant holds' : `all ${n} participants hold`) : `${e2ee.members} of ${n} participants hold`;
  return `end-to-end encrypted: MLS epoch ${e2ee.epoch}, ${all} the group`;
}

/** Renders the list; `onEnd` is called when the operator confirmed ending a meeting. */
export function renderMeetings(container: HTMLElement, empty: HTMLElement, meetings: readonly ConsoleMeeting[], onEnd: (meeting: ConsoleMeeting) => void): void {
  empty.hidden = meetings.length > 0;
  container.replaceChildren(
    ...meetings.map((m) => {
      const card = document.createElement('article');
      card.className = 'meeting card';
      card.dataset.meeting = m.id;
      const header = document.createElement('header');
      const title = document.createElement('h2');
      title.textContent = m.title;
      const where = document.createElement('span');
      where.className = 'where';
      where.textContent = m.cascade ? `cascaded · ${m.participants.length} participant${m.participants.length === 1 ? '' : 's'}` : `held in ${m.datacenter ?? 'no datacenter'} · ${m.participants.length} participant${m.participants.length === 1 ? '' : 's'}`;
      const spacer = document.createElement('span');
      spacer.className = 'spacer';
      const end = document.createElement('button');
      end.type = 'button';
      end.className = 'danger';
      end.textContent = 'End meeting';
      end.setAttribute('aria-label', `End meeting ${m.title}`);
      end.addEventListener('click', () => {
        const count = m.participants.length;
        if (window.confirm(`End “${m.title}”? Its ${count} participant${count === 1 ? '' : 's'} will be disconnected, and the end is recorded in the audit log.`)) onEnd(m);
      });
      header.append(title, where, spacer, end);
      const e2ee = document.createElement('p');
      e2ee.className = `e2ee ${m.e2ee === null ? 'off' : m.e2ee.members >= m.participants.length ? 'on' : 'partial'}`;
      e2ee.textContent = e2eeText(m);
      const list = document.createElement('ul');
      for (const line of participantLines(m)) {
        const item = document.createElement('li');
        item.textContent = line;
        list.append(item);
      }
      for (const r of m.relays) {
        const item = document.createElement('li');
        item.textContent = `relay ${r.from} → ${r.to}: ${r.streams} stream${r.streams === 1 ? '' : 's'}`;
        list.append(item);
      }
      card.append(header, e2ee, list);
      return card;
    }),
  );
}
