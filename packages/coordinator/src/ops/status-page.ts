/**
 * The coordinator's read-only status page: one self-contained HTML document (inline style, no
 * scripts, no external assets; a meta refresh reloads it) listing sessions, their participants'
 * uploads per class and the job's progress. Every value is escaped. It shows what the operator
 * view holds (ids, labels, counts, states), never credentials, key material or peer addresses.
 */
import { UploadState, type ParticipantStatus, type SessionDetail } from '@synthgrad/protocol';
import { stateLabel } from './session-log.js';

const esc = (v: unknown): string =>
  String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const time = (ms: number) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : 'none');

const UPLOAD_CELL: Record<UploadState, [string, string]> = {
  [UploadState.UPLOAD_STATE_UNSPECIFIED]: ['none', '-'],
  [UploadState.UPLOAD_STATE_NONE]: ['none', '-'],
  [UploadState.UPLOAD_STATE_PARTIAL]: ['partial', 'partial'],
  [UploadState.UPLOAD_STATE_COMPLETE]: ['complete', 'complete'],
  [UploadState.UNRECOGNIZED]: ['none', '?'],
};

function participantRow(p: ParticipantStatus): string {
  const cells = p.uploads.map((u) => {
    const [cls, text] = UPLOAD_CELL[u.state] ?? UPLOAD_CELL[UploadState.UPLOAD_STATE_NONE];
    const chunks = u.state === UploadState.UPLOAD_STATE_PARTIAL ? ` ${u.chunksReceived}/${u.chunkCount}` : '';
    return `<td class="${cls}">${esc(text + chunks)}</td>`;
  });
  return `<tr><th scope="row" class="participant">${esc(p.clientId)}</th><td>${p.joined ? 'joined' : 'invited'}</td>${cells.join('')}</tr>`;
}

function sessionSection(d: SessionDetail): string {
  const s = d.session!;
  const labels = s.task?.labels ?? [];
  const pct = Math.round((d.progress?.progress ?? 0) * 100);
  const log = d.log.slice(-8);
  return `<section class="session" id="${esc(s.id)}">
<h2><code>${esc(s.id)}</code> <span class="state ${esc(stateLabel(s.state).toLowerCase())}">${esc(stateLabel(s.state))}</span></h2>
<p>task ${esc(s.task?.name ?? '')} &middot; quorum ${s.completeContributions}/${s.minClients} complete &middot; ${s.participants} of ${d.participants.length} joined &middot; created ${esc(time(s.createdUnixMs))} &middot; deadline ${esc(time(s.deadlineUnixMs))}</p>
<div class="bar" role="progressbar" aria-valuenow="${pct}" aria-valuemin="0" aria-valuemax="100"><div style="width:${pct}%"></div></div>
<p class="progress">job ${pct}%${d.progress?.message ? ` &middot; ${esc(d.progress.message)}` : ''}</p>
<table><thead><tr><th>participant</th><th>status</th>${labels.map((l) => `<th>${esc(l.name)}</th>`).join('')}</tr></thead>
<tbody>${d.participants.map(participantRow).join('')}</tbody></table>
${log.length ? `<pre class="log">${log.map(esc).join('\n')}</pre>` : ''}
</section>`;
}

export function renderStatusPage(sessions: SessionDetail[], now = Date.now(), refreshSeconds = 5): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${refreshSeconds}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>synthgrad coordinator</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:0 0 6px}
.session{background:#fff;border:1px solid #d7dbe2;border-radius:6px;padding:12px 16px;margin:14px 0}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #d7dbe2;padding:3px 10px;text-align:left}
thead th{background:#eef1f5}.complete{background:#c9efd2}.partial{background:#ffe7a8}.none{color:#8a93a3}
.state{font-size:12px;padding:1px 8px;border-radius:9px;background:#dde3ec}.state.running{background:#bcd8ff}
.state.done{background:#c9efd2}.state.failed,.state.expired,.state.cancelled{background:#f6c9c9}
.bar{height:10px;background:#e4e7ec;border-radius:5px;max-width:420px}.bar div{height:10px;background:#3b7ddd;border-radius:5px}
.log{background:#f0f2f5;padding:6px 8px;font-size:12px;overflow:auto}.muted{color:#6b7485}
</style></head><body>
<h1>synthgrad coordinator</h1>
<p class="muted">${sessions.length} session(s) &middot; read-only &middot; ${esc(time(now))} &middot; reloads every ${refreshSeconds} s &middot; <a href="/status.json">status.json</a></p>
${sessions.length ? sessions.map(sessionSection).join('\n') : '<p>No sessions yet.</p>'}
</body></html>
`;
}
