/**
 * The operator console (docs/console.md), served by the broker at /console.
 * The operator logs in with the admin token, which the broker exchanges for
 * an http-only session cookie and a CSRF token; every page then reads the
 * console API (/v1/console/*, in /docs), and the map follows the broker's
 * live view through server-sent events rather than polling.
 */
import type { ConsoleWhatIf, ConsoleManifestApplied, ConsoleManifestHistory, ConsoleManifestReview, ConsoleAuditIntegrity, ConsoleAuditRecords, ConsoleAuditReport, ConsoleBaseMap, ConsoleCountryFences, ConsoleDatacenterFences, ConsoleLoginAnswer, ConsoleMeeting, ConsoleMeetingsAnswer, ConsoleOverview, ConsoleSessionAnswer } from '../protocol/console-answers.js';
import { call, ConsoleApiError, useCsrf } from './api.js';
import { renderIntegrity, renderRecords, renderReport } from './audit-page.js';
import { mapCountries, renderFences, type FenceView } from './fences-view.js';
import { confirmText, renderExposureMap, renderHistory, renderReview } from './manifest-page.js';
import { demandQuery, fillInputs, renderWhatIf } from './whatif-page.js';
import { renderMap } from './map-view.js';
import { renderMeetings } from './meetings-view.js';

type Page = 'map' | 'meetings' | 'fences' | 'audit' | 'manifest' | 'whatif';
const PAGES: readonly Page[] = ['map', 'meetings', 'fences', 'audit', 'manifest', 'whatif'];
const TITLES: Readonly<Record<Page, string>> = { map: 'Datacenters', meetings: 'Live meetings', fences: 'Fences', audit: 'Audit', manifest: 'Manifest review', whatif: 'What if' };

function element<T extends Element>(id: string, type: abstract new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the console page has no #${id} of the expected kind`);
  return found;
}

let base: ConsoleBaseMap | undefined;
let overview: ConsoleOverview | undefined;
let events: EventSource | undefined;
/**
 * While the meetings page is shown it also asks again every few seconds: a
 * group's epoch arrives with its bridge's next heartbeat, which changes
 * nothing on the overview the event stream carries.
 */
const MEETINGS_EVERY_MS = 3000;
let meetingsTimer: ReturnType<typeof setInterval> | undefined;

function currentPage(): Page {
  const name = location.hash.slice(1);
  return (PAGES as readonly string[]).includes(name) ? (name as Page) : 'map';
}

function showLogin(message?: string): void {
  events?.close();
  events = undefined;
  clearInterval(meetingsTimer);
  meetingsTimer = undefined;
  useCsrf(undefined);
  element('nav', HTMLElement).hidden = true;
  element('logout', HTMLElement).hidden = true;
  element('live', HTMLElement).textContent = '';
  for (const p of PAGES) element(`page-${p}`, HTMLElement).hidden = true;
  element('login', HTMLElement).hidden = false;
  const error = element('login-error', HTMLElement);
  error.hidden = message === undefined;
  error.textContent = message ?? '';
  element('token', HTMLInputElement).focus();
}

function showApp(): void {
  element('login', HTMLElement).hidden = true;
  element('nav', HTMLElement).hidden = false;
  element('logout', HTMLElement).hidden = false;
  showPage();
  follow();
}

function showPage(): void {
  const page = currentPage();
  for (const p of PAGES) element(`page-${p}`, HTMLElement).hidden = p !== page;
  for (const link of element('nav', HTMLElement).querySelectorAll('a')) {
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${TITLES[page]} · geobridge console`;
  clearInterval(meetingsTimer);
  meetingsTimer = page === 'meetings' ? setInterval(() => void refreshMeetings(), MEETINGS_EVERY_MS) : undefined;
  if (page === 'meetings') void refreshMeetings();
  else if (page === 'fences') void showFences();
  else if (page === 'audit') void showAudit();
  else if (page === 'manifest') void refreshHistory();
  else if (page === 'whatif') void showWhatIf();
  else drawMap();
}

/** Any failure of a call: a lost session goes back to the login, the rest is said where the operator looks. */
function failed(error: unknown): void {
  if (error instanceof ConsoleApiError && error.status === 401) {
    showLogin('Your session ended. Log in again.');
    return;
  }
  element('live', HTMLElement).textContent = error instanceof Error ? error.message : String(error);
}

/** Server-sent events: a new overview whenever the broker's view changes. */
function follow(): void {
  events?.close();
  const source = new EventSource('/v1/console/events');
  events = source;
  source.addEventListener('overview', (event) => {
    overview = JSON.parse((event as MessageEvent<string>).data) as ConsoleOverview;
    element('live', HTMLElement).textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
    if (currentPage() === 'map') drawMap();
    else if (currentPage() === 'meetings') void refreshMeetings();
  });
  source.addEventListener('error', () => {
    if (source.readyState !== EventSource.CLOSED) {
      element('live', HTMLElement).textContent = 'Reconnecting to the broker…';
      return;
    }
    // The broker closed the stream for good: the session may be over.
    call<ConsoleSessionAnswer>('/v1/console/session').then(() => {
      if (events === source) follow();
    }, failed);
  });
}

/** The world map, fetched once per page load. */
async function baseMap(): Promise<ConsoleBaseMap> {
  base ??= await call<ConsoleBaseMap>('/console/base-map.json');
  return base;
}

function drawMap(): void {
  if (!overview) return;
  if (!base) {
    baseMap().then(drawMap, failed);
    return;
  }
  renderMap(element('world', SVGSVGElement), tableBody('datacenters'), base, overview);
}

async function refreshMeetings(): Promise<void> {
  try {
    const { meetings } = await call<ConsoleMeetingsAnswer>('/v1/console/meetings');
    renderMeetings(element('meetings', HTMLElement), element('meetings-empty', HTMLElement), meetings, (m) => void endMeeting(m));
  } catch (error) {
    failed(error);
  }
}

async function endMeeting(meeting: ConsoleMeeting): Promise<void> {
  try {
    await call(`/v1/console/meetings/${encodeURIComponent(meeting.id)}/end`, { method: 'POST', body: {} });
    element('live', HTMLElement).textContent = `Ended “${meeting.title}”.`;
  } catch (error) {
    failed(error);
  }
  await refreshMeetings();
}

let fenceView: FenceView | undefined;

/** The fences page: fills the pickers once, and draws the last answer. */
async function showFences(): Promise<void> {
  try {
    const map = await baseMap();
    const countries = element('fence-country', HTMLSelectElement);
    const datacenters = element('fence-datacenter', HTMLSelectElement);
    if (countries.options.length === 1) {
      countries.append(...mapCountries(map).map((c) => new Option(`${c.name} (${c.code})`, c.code)));
      datacenters.append(...map.datacenters.map((d) => new Option(d.id, d.id)));
    }
    drawFences(map);
  } catch (error) {
    failed(error);
  }
}

function drawFences(map: ConsoleBaseMap): void {
  renderFences(element('fence-map', SVGSVGElement), element('fence-answer', HTMLElement), map, fenceView);
}

async function pickFence(kind: 'country' | 'datacenter', value: string): Promise<void> {
  // One question at a time: picking a country clears the datacenter, and the other way round.
  element(kind === 'country' ? 'fence-datacenter' : 'fence-country', HTMLSelectElement).value = '';
  try {
    if (value === '') fenceView = undefined;
    else if (kind === 'country') fenceView = { kind, answer: await call<ConsoleCountryFences>(`/v1/console/fences/countries/${encodeURIComponent(value)}`) };
    else fenceView = { kind, answer: await call<ConsoleDatacenterFences>(`/v1/console/fences/datacenters/${encodeURIComponent(value)}`) };
    drawFences(await baseMap());
  } catch (error) {
    failed(error);
  }
}

/** A date input's value, `days` from today (UTC). */
function dayFromToday(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

/** The audit page: the report, the records under the filters, and the logs' integrity, for the period in the form (the last 7 days at first). */
async function showAudit(): Promise<void> {
  const from = element('audit-from', HTMLInputElement);
  const to = element('audit-to', HTMLInputElement);
  if (from.value === '') from.value = dayFromToday(-6);
  if (to.value === '') to.value = dayFromToday(1);
  const error = element('audit-error', HTMLElement);
  const query = new URLSearchParams({ from: from.value, to: to.value });
  const filters = new URLSearchParams(query);
  for (const name of ['type', 'country', 'jurisdiction', 'datacenter'] as const) {
    const value = document.getElementById(`audit-${name}`) as HTMLInputElement | HTMLSelectElement | null;
    if (value && value.value.trim() !== '') filters.set(name, value.value.trim());
  }
  try {
    const [report, found, integrity] = await Promise.all([
      call<ConsoleAuditReport>(`/v1/console/audit/report?${query.toString()}`),
      call<ConsoleAuditRecords>(`/v1/console/audit/records?${filters.toString()}`),
      call<ConsoleAuditIntegrity>('/v1/console/audit/integrity'),
    ]);
    error.hidden = true;
    renderReport(report, { totals: element('audit-totals', HTMLElement), days: element('audit-days', SVGSVGElement), types: tableBody('audit-types'), typePicker: element('audit-type', HTMLSelectElement) });
    renderRecords(found, tableBody('audit-records'), element('audit-count', HTMLElement));
    renderIntegrity(integrity, tableBody('audit-integrity'));
  } catch (e) {
    if (e instanceof ConsoleApiError && e.status === 401) {
      failed(e);
      return;
    }
    error.hidden = false;
    error.textContent = e instanceof Error ? e.message : String(e);
  }
}

function tableBody(id: string): HTMLTableSectionElement {
  const body = element(id, HTMLTableElement).tBodies[0];
  if (!body) throw new Error(`#${id} has no body`);
  return body;
}

async function verifyLogs(): Promise<void> {
  const said = element('audit-verified', HTMLElement);
  said.textContent = 'Checking every record, the Merkle tree and every signed tree head…';
  try {
    const integrity = await call<ConsoleAuditIntegrity>('/v1/console/audit/verify', { method: 'POST', body: {} });
    renderIntegrity(integrity, tableBody('audit-integrity'));
    const bad = integrity.logs.filter((l) => l.verified?.ok !== true);
    said.textContent = bad.length === 0 ? `Every log is intact (${integrity.logs.length} checked).` : `${bad.length} log${bad.length === 1 ? ' is' : 's are'} NOT intact: see the table.`;
  } catch (e) {
    said.textContent = '';
    failed(e);
  }
}

/** The manifest text last reviewed, and its review: apply sends exactly that text. */
let reviewed: { text: string; review: ConsoleManifestReview } | undefined;

async function refreshHistory(): Promise<void> {
  try {
    renderHistory(await call<ConsoleManifestHistory>('/v1/console/manifest/history'), tableBody('manifest-history'));
  } catch (error) {
    failed(error);
  }
}

async function reviewManifest(): Promise<void> {
  const text = element('manifest-text', HTMLTextAreaElement).value;
  const apply = element('manifest-apply', HTMLButtonElement);
  const status = element('manifest-status', HTMLElement);
  apply.disabled = true;
  reviewed = undefined;
  if (text.trim() === '') {
    status.textContent = 'Paste a manifest or choose a file first.';
    return;
  }
  try {
    const review = await call<ConsoleManifestReview>('/v1/console/manifest/review', { method: 'POST', body: { text } });
    reviewed = { text, review };
    renderReview(text, review, { section: element('manifest-result', HTMLElement), verdict: element('manifest-verdict', HTMLElement), diagnostics: element('manifest-diagnostics', HTMLElement), diff: element('manifest-diff', HTMLElement), lines: element('manifest-lines', HTMLElement) });
    const figure = element('manifest-map-figure', HTMLElement);
    figure.hidden = review.diff === null;
    if (review.diff) renderExposureMap(element('manifest-map', SVGSVGElement), await baseMap(), review.diff);
    apply.disabled = !review.clean;
    status.textContent = review.clean ? '' : 'Fix the errors and review it again.';
  } catch (error) {
    failed(error);
  }
}

async function applyReviewed(): Promise<void> {
  const status = element('manifest-status', HTMLElement);
  if (!reviewed?.review.clean || !window.confirm(confirmText(reviewed.review.diff))) return;
  try {
    const applied = await call<ConsoleManifestApplied>('/v1/console/manifest/apply', { method: 'POST', body: { text: reviewed.text, version: reviewed.review.version } });
    status.textContent = `Version ${applied.version} is in force.`;
    element('manifest-apply', HTMLButtonElement).disabled = true;
    reviewed = undefined;
  } catch (error) {
    if (error instanceof ConsoleApiError && error.status === 422) status.textContent = error.message;
    else if (error instanceof ConsoleApiError && error.status === 412) {
      // Another admin applied a manifest since this review: its diff is no longer what would change.
      element('manifest-apply', HTMLButtonElement).disabled = true;
      reviewed = undefined;
      status.textContent = 'Another manifest came into force since your review, so its exposure diff is out of date. Nothing was changed: review again, then apply.';
    } else failed(error);
  }
  await refreshHistory();
}

/** The inputs, once: the datacenters from the map, the zones and their forecasts from a what-if of nothing. */
async function showWhatIf(): Promise<void> {
  const demand = element('whatif-demand', HTMLFieldSetElement);
  if (demand.querySelector('input')) return;
  try {
    const [map, nothing] = await Promise.all([baseMap(), call<ConsoleWhatIf>('/v1/console/what-if')]);
    fillInputs(element('whatif-down', HTMLFieldSetElement), demand, map, nothing.zones);
  } catch (error) {
    failed(error);
  }
}

async function runWhatIf(): Promise<void> {
  const down = [...element('whatif-down', HTMLFieldSetElement).querySelectorAll<HTMLInputElement>('input:checked')].map((b) => b.value);
  const demand = demandQuery(element('whatif-demand', HTMLFieldSetElement).querySelectorAll<HTMLInputElement>('input'));
  const button = element('whatif-run', HTMLButtonElement);
  button.disabled = true;
  try {
    const [map, whatIf] = await Promise.all([baseMap(), call<ConsoleWhatIf>(`/v1/console/what-if?${new URLSearchParams({ down: down.join(','), demand }).toString()}`)]);
    renderWhatIf(element('whatif-map', SVGSVGElement), element('whatif-answer', HTMLElement), map, whatIf);
  } catch (error) {
    if (error instanceof ConsoleApiError && error.status === 400) {
      const answer = element('whatif-answer', HTMLElement);
      answer.hidden = false;
      answer.textContent = error.message;
    } else failed(error);
  } finally {
    button.disabled = false;
  }
}

async function start(): Promise<void> {
  element('whatif-run', HTMLButtonElement).addEventListener('click', () => void runWhatIf());
  element('manifest-file', HTMLInputElement).addEventListener('change', (event) => {
    const file = (event.target as HTMLInputElement).files?.[0];
    if (!file) return;
    void file.text().then((text) => {
      element('manifest-text', HTMLTextAreaElement).value = text;
      return reviewManifest();
    });
  });
  element('manifest-text', HTMLTextAreaElement).addEventListener('input', () => {
    // An edit after the review is not what was reviewed.
    element('manifest-apply', HTMLButtonElement).disabled = true;
    reviewed = undefined;
  });
  element('manifest-review', HTMLButtonElement).addEventListener('click', () => void reviewManifest());
  element('manifest-apply', HTMLButtonElement).addEventListener('click', () => void applyReviewed());
  element('audit-form', HTMLFormElement).addEventListener('submit', (event) => {
    event.preventDefault();
    void showAudit();
  });
  element('audit-verify', HTMLButtonElement).addEventListener('click', () => void verifyLogs());
  element('fence-country', HTMLSelectElement).addEventListener('change', (event) => void pickFence('country', (event.target as HTMLSelectElement).value));
  element('fence-datacenter', HTMLSelectElement).addEventListener('change', (event) => void pickFence('datacenter', (event.target as HTMLSelectElement).value));
  element('login-form', HTMLFormElement).addEventListener('submit', (event) => {
    event.preventDefault();
    const input = element('token', HTMLInputElement);
    call<ConsoleLoginAnswer>('/v1/console/login', { method: 'POST', body: { token: input.value } }).then(
      (session) => {
        input.value = '';
        useCsrf(session.csrf);
        showApp();
      },
      (error: unknown) => {
        input.value = '';
        showLogin(error instanceof ConsoleApiError && error.status === 401 ? 'That is not the admin token of this broker.' : error instanceof Error ? error.message : String(error));
      },
    );
  });
  element('logout', HTMLButtonElement).addEventListener('click', () => {
    void call('/v1/console/logout', { method: 'POST', body: {} }).finally(() => {
      showLogin();
    });
  });
  window.addEventListener('hashchange', showPage);
  try {
    const session = await call<ConsoleSessionAnswer>('/v1/console/session');
    useCsrf(session.csrf);
    showApp();
  } catch (error) {
    if (error instanceof ConsoleApiError && error.status === 401) showLogin();
    else failed(error);
  }
}

void start();
