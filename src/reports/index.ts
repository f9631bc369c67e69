import { buildAnalysis, renderAnalysis, type Analysis } from './analysis';
import { evaluateSuccessCriteria, type CriterionResult } from './criteria';
import { incidentFieldsFromRecord, renderIncident, type IncidentFields } from './incident';
import { renderLogEntry } from './log-entry';
import type { ReportRecord } from './record';
import { renderTimelineSvg } from './timeline';

export { buildAnalysis, renderAnalysis, type Analysis } from './analysis';
export { evaluateSuccessCriteria, type CriterionResult, type CriterionState } from './criteria';
export { renderIncident, incidentFieldsFromRecord, type IncidentFields } from './incident';
export { renderLogEntry, logMarker } from './log-entry';
export { renderTimelineSvg } from './timeline';
export type { ReportRecord } from './record';

export interface ReportBundle {
  incident: string;
  logEntry: string;
  analysis: string;
  analysisData: Analysis;
  criteria: CriterionResult[];
  /** timeline.svg: the steps and undos as a Gantt chart. */
  timeline: string;
}

/** Every report of one rollback, from its record (and the plan's incident input when known). */
export function buildReports(record: ReportRecord, incident?: IncidentFields): ReportBundle {
  return {
    // The plan's input names the findings by reference (`analyze.findings`); the record holds them.
    incident: renderIncident(
      incident
        ? { ...incident, ...(record.findings ? { findings: record.findings } : {}) }
        : incidentFieldsFromRecord(record),
    ),
    logEntry: renderLogEntry(record),
    analysis: renderAnalysis(record),
    analysisData: buildAnalysis(record),
    criteria: evaluateSuccessCriteria(record),
    timeline: renderTimelineSvg(record),
  };
}
