/**
 * The operator view as plain JSON (`coordinator sessions --json`, `/status.json`): every field
 * present (protobuf's JSON mapping drops zeros and empty strings, which reads as "missing" to a
 * script), states as short names. A stable, typed shape for scripts and dashboards.
 */
import { UploadState, type SessionDetail } from '@synthgrad/protocol';
import { stateLabel } from './session-log.js';

export type UploadStateName = 'none' | 'partial' | 'complete';

export interface SessionDetailJson {
  id: string;
  state: string;
  task: string;
  labels: string[];
  minClients: number;
  joined: number;
  invited: number;
  completeContributions: number;
  createdUnixMs: number;
  deadlineUnixMs: number;
  message: string;
  progress: { fraction: number; message: string };
  participants: { clientId: string; joined: boolean; uploads: { classIndex: number; label: string; state: UploadStateName; chunksReceived: number; chunkCount: number }[] }[];
  log: string[];
}

const UPLOAD_NAME: Partial<Record<UploadState, UploadStateName>> = {
  [UploadState.UPLOAD_STATE_PARTIAL]: 'partial',
  [UploadState.UPLOAD_STATE_COMPLETE]: 'complete',
};

export function sessionDetailJson(d: SessionDetail): SessionDetailJson {
  const s = d.session!;
  return {
    id: s.id,
    state: stateLabel(s.state),
    task: s.task?.name ?? '',
    labels: (s.task?.labels ?? []).map((l) => l.name),
    minClients: s.minClients,
    joined: s.participants,
    invited: d.participants.length,
    completeContributions: s.completeContributions,
    createdUnixMs: s.createdUnixMs,
    deadlineUnixMs: s.deadlineUnixMs,
    message: s.message,
    progress: { fraction: d.progress?.progress ?? 0, message: d.progress?.message ?? '' },
    participants: d.participants.map((p) => ({
      clientId: p.clientId,
      joined: p.joined,
      uploads: p.uploads.map((u) => ({ classIndex: u.classIndex, label: u.label, state: UPLOAD_NAME[u.state] ?? 'none', chunksReceived: u.chunksReceived, chunkCount: u.chunkCount })),
    })),
    log: d.log,
  };
}
