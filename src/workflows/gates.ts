import { condition, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  clipped,
  DECISIONS,
  signedMessage,
  verifySignature,
  TEXT_LIMITS,
  textProblem,
  type AuditEntry,
  type Decision,
  type FailurePolicy,
  type Plan,
  type RollbackRecord,
} from '../model';
import {
  approveSignal,
  approveUpdate,
  auditQuery,
  decideSignal,
  decideUpdate,
  progressQuery,
  rejectSignal,
  rejectUpdate,
  type ApprovalInput,
  type DecisionInput,
  type MessageResult,
  type Signed,
} from './messages';

/** Refused signals kept in the audit trail; past this, a flood of bad signals is only counted. */
const MAX_REFUSED_SIGNALS = 100;

/**
 * The human moments of a rollback: approval before the plan runs, and a decision when a step has
 * failed for good. Every check lives here once, used by the Update validators (which refuse before
 * anything enters the history) and by the Signal handlers (which keep a refusal in the audit trail).
 */
export class Gates {
  private rejected?: { by: string; comment?: string };
  private readonly approvedBy = new Set<string>();
  private pendingDecision?: { decision: Decision; by: string };
  /** Set when the approval deadline passed: from then on the configured default decides. */
  private timedOut = false;
  /** Set by listen(): whether signals get today's people-text rules (see there). */
  private strictSignals = true;
  private refusedSignals = 0;
  /** Nonces of accepted signed actions: a signature counts once. */
  private readonly usedNonces = new Set<string>();

  constructor(
    private readonly record: RollbackRecord,
    private readonly plan: Plan,
  ) {}

  /**
   * Wires the queries, and each action as an Update (its validator refuses before anything enters
   * the history) and as a Signal (a refusal is kept in the audit trail instead).
   */
  listen(): void {
    // Signals are replayed through their handlers: a rollback started before the text checks and
    // the requester-decision rule existed keeps the old rules for its signals, or its replay would
    // refuse what its history accepted. Updates are validated once, on arrival, so they always
    // get today's rules.
    this.strictSignals = patched('people-text-checks');
    setHandler(progressQuery, () => this.record);
    setHandler(auditQuery, () => this.record.audit);
    const refuse = (problem: string | undefined) => {
      if (problem) throw new Error(problem);
    };
    setHandler(approveUpdate, (i) => this.approve(i, 'update'), {
      validator: (i) => refuse(this.approvalProblem(i, 'approve')),
    });
    setHandler(rejectUpdate, (i) => this.reject(i, 'update'), {
      validator: (i) => refuse(this.approvalProblem(i, 'reject')),
    });
    setHandler(decideUpdate, (i) => this.decide(i, 'update'), {
      validator: (i) => refuse(this.decisionProblem(i)),
    });
    setHandler(approveSignal, (i) => {
      const problem = this.approvalProblem(i, 'approve', this.strictSignals);
      if (problem) this.refuseSignal(i?.by, 'approve', problem);
      else this.approve(i, 'signal');
    });
    setHandler(rejectSignal, (i) => {
      const problem = this.approvalProblem(i, 'reject', this.strictSignals);
      if (problem) this.refuseSignal(i?.by, 'reject', problem);
      else this.reject(i, 'signal');
    });
    setHandler(decideSignal, (i) => {
      const problem = this.decisionProblem(i, this.strictSignals);
      if (problem) this.refuseSignal(i?.by, 'decide', problem);
      else this.decide(i, 'signal');
    });
  }

  private now(): string {
    return new Date().toISOString();
  }

  audit(
    by: string,
    action: AuditEntry['action'],
    outcome: AuditEntry['outcome'],
    detail?: string,
    signedBy?: string,
    channel?: string,
  ): void {
    this.record.audit.push({
      at: this.now(),
      by,
      action,
      outcome,
      detail,
      ...(signedBy ? { signedBy } : {}),
      ...(channel === 'slack' ? { channel: 'slack' as const } : {}),
    });
  }

  private result(): MessageResult {
    return {
      accepted: true,
      status: this.record.status,
      approvals: this.approvedBy.size,
      needed: this.plan.approval.quorum,
    };
  }

  /** Why this approval or rejection cannot be accepted, or undefined if it can. */
  /** Who is acting and what they wrote are text from people: one line, within limits. */
  private peopleTextProblem(
    input: { by?: string; comment?: string } | undefined,
    strict: boolean,
  ): string | undefined {
    const by = input?.by?.trim();
    if (!by) return 'say who you are (--as NAME or ROLLBACK_USER)';
    if (!strict) return undefined;
    return (
      textProblem('the name', by, TEXT_LIMITS.name) ??
      (input?.comment === undefined
        ? undefined
        : textProblem('the comment', input.comment, TEXT_LIMITS.comment))
    );
  }

  approvalProblem(input: ApprovalInput, action: 'approve' | 'reject', strict = true): string | undefined {
    const bad = this.peopleTextProblem(input, strict);
    if (bad) return bad;
    const by = input.by.trim();
    if (this.record.status !== 'awaiting-approval' || this.rejected || this.timedOut) {
      const state = this.rejected
        ? 'rejected'
        : this.timedOut
          ? 'past its approval deadline'
          : this.record.status;
      return `rollback ${this.record.rollbackId} is not awaiting approval (it is ${state})`;
    }
    const isRequester = by === this.record.requestedBy;
    if (action === 'approve' && isRequester) return `${by} requested this rollback and may not approve it`;
    if (!this.plan.approval.approvers.includes(by) && !(action === 'reject' && isRequester)) {
      return `${by} is not an approver of ${this.plan.target} (approvers: ${this.plan.approval.approvers.join(', ') || 'none'})`;
    }
    if (action === 'approve' && this.approvedBy.has(by))
      return `${by} has already approved; a quorum needs distinct approvers`;
    return this.signatureProblem(input, action);
  }

  /**
   * With `requireSignature`: the action must carry an SSH signature, by a key the plan's allowed
   * signers give to `by`, over exactly this workflow, run, action, step, decision, comment and a
   * nonce not used before. Pure and deterministic: it runs in the Update validators.
   */
  private signatureProblem(
    input: Signed & { by: string; comment?: string; stepId?: string; decision?: string },
    action: 'approve' | 'reject' | 'decide',
  ): string | undefined {
    return this.verifySigned(input, action).problem;
  }

  private verifySigned(
    input: Signed & { by: string; comment?: string; stepId?: string; decision?: string },
    action: 'approve' | 'reject' | 'decide',
  ): { problem?: string; fingerprint?: string } {
    const policy = this.plan.approval;
    if (!policy.requireSignature) return {};
    const by = input.by.trim();
    if (!input.signature || !input.nonce) {
      return {
        problem: `${this.plan.target} takes signed ${action === 'decide' ? 'decisions' : 'approvals'} only: sign with your SSH key (rollback ${action} … --sign-with ~/.ssh/id_ed25519)`,
      };
    }
    if (!/^[0-9a-f]{16,64}$/.test(input.nonce)) return { problem: 'the nonce must be 16 to 64 hex digits' };
    if (this.usedNonces.has(input.nonce))
      return { problem: 'this signature was used already (a replayed request)' };
    if (action === 'decide' && !input.stepId) return { problem: 'a signed decision names its step' };
    const info = workflowInfo();
    const message = signedMessage({
      workflowId: info.workflowId,
      runId: info.runId,
      action,
      by,
      stepId: input.stepId,
      decision: input.decision,
      comment: input.comment,
      nonce: input.nonce,
      channel: input.channel === 'slack' ? 'slack' : 'cli',
    });
    try {
      const signer = verifySignature(input.signature, message, policy.signers ?? []);
      if (!signer.principals.includes(by)) {
        return { problem: `the key ${signer.fingerprint} is ${signer.principals.join(', ')}'s, not ${by}'s` };
      }
      return { fingerprint: signer.fingerprint };
    } catch (err) {
      return { problem: (err as Error).message };
    }
  }

  /** Marks a signed action's nonce used and says which key signed it. */
  private consumeSignature(
    input: Signed & { by: string; comment?: string; stepId?: string; decision?: string },
    action: 'approve' | 'reject' | 'decide',
  ): string | undefined {
    if (!this.plan.approval.requireSignature) return undefined;
    const { fingerprint } = this.verifySigned(input, action);
    this.usedNonces.add(input.nonce!);
    return fingerprint;
  }

  decisionProblem(input: DecisionInput, strict = true): string | undefined {
    const bad = this.peopleTextProblem(input, strict);
    if (bad) return bad;
    const by = input.by.trim();
    if (!(DECISIONS as readonly string[]).includes(input.decision))
      return `unknown decision "${input.decision}"; use retry, skip, compensate or abort`;
    if (this.record.status !== 'awaiting-decision' || this.pendingDecision) {
      return `rollback ${this.record.rollbackId} is not waiting for a decision (it is ${this.record.status})`;
    }
    if (input.stepId && input.stepId !== this.record.awaitingDecision?.stepId) {
      return `the decision is for step ${input.stepId}, but the rollback waits on ${this.record.awaitingDecision?.stepId}; look again (rollback status) and decide on that`;
    }
    const approvers = this.plan.approval.approvers.join(', ') || 'none';
    // A rollback that needed someone else's approval needs someone else's decision too: a skip is
    // as much a change of plan as the plan itself.
    if (strict && by === this.record.requestedBy && this.plan.approval.required) {
      return `${by} requested this rollback, which needed approval: an approver decides on it (approvers: ${approvers})`;
    }
    if (!this.plan.approval.approvers.includes(by) && by !== this.record.requestedBy) {
      return `${by} may not decide on ${this.plan.target} rollbacks (the requester or approvers: ${approvers})`;
    }
    return this.signatureProblem(input, 'decide');
  }

  approve(raw: ApprovalInput, via: 'update' | 'signal'): MessageResult {
    const input = { ...raw, by: raw.by.trim() };
    const signedBy = this.consumeSignature(input, 'approve');
    this.approvedBy.add(input.by);
    this.record.approvals.push({
      by: input.by,
      at: this.now(),
      decision: 'approved',
      comment: input.comment,
      via,
      ...(signedBy ? { signedBy } : {}),
      ...(input.channel === 'slack' ? { channel: 'slack' as const } : {}),
    });
    this.audit(input.by, 'approve', 'accepted', input.comment, signedBy, input.channel);
    return this.result();
  }

  reject(raw: ApprovalInput, via: 'update' | 'signal'): MessageResult {
    const input = { ...raw, by: raw.by.trim() };
    const signedBy = this.consumeSignature(input, 'reject');
    this.rejected = { by: input.by, comment: input.comment };
    this.record.approvals.push({
      by: input.by,
      at: this.now(),
      decision: 'rejected',
      comment: input.comment,
      via,
      ...(signedBy ? { signedBy } : {}),
      ...(input.channel === 'slack' ? { channel: 'slack' as const } : {}),
    });
    this.audit(input.by, 'reject', 'accepted', input.comment, signedBy, input.channel);
    return this.result();
  }

  decide(raw: DecisionInput, via: 'update' | 'signal'): MessageResult {
    const input = { ...raw, by: raw.by.trim() };
    const signedBy = this.consumeSignature(input, 'decide');
    const stepId = this.record.awaitingDecision?.stepId ?? '?';
    this.pendingDecision = { decision: input.decision, by: input.by };
    this.record.decisions.push({
      stepId,
      decision: input.decision,
      by: input.by,
      at: this.now(),
      comment: input.comment,
      via,
      ...(signedBy ? { signedBy } : {}),
      ...(input.channel === 'slack' ? { channel: 'slack' as const } : {}),
    });
    this.audit(
      input.by,
      'decide',
      'accepted',
      `${input.decision} on ${stepId}${input.comment ? `: ${input.comment}` : ''}`,
      signedBy,
      input.channel,
    );
    return this.result();
  }

  /** A signal cannot be refused to its sender, so its refusal is recorded instead. */
  refuseSignal(by: unknown, action: AuditEntry['action'], problem: string): void {
    // Whatever a refused signal carried is bounded before it is kept: a stream of bad signals must
    // not grow the record past what a query or the result can carry.
    const who = typeof by === 'string' && by.trim() ? clipped(by.trim(), TEXT_LIMITS.name) : '(unknown)';
    this.refusedSignals++;
    if (this.refusedSignals < MAX_REFUSED_SIGNALS) this.audit(who, action, 'refused', clipped(problem, 300));
    else if (this.refusedSignals === MAX_REFUSED_SIGNALS)
      this.audit(
        who,
        action,
        'refused',
        `${MAX_REFUSED_SIGNALS} signals refused; later refusals are not recorded`,
      );
  }

  /** Waits for the quorum or a rejection; on timeout escalates, then applies the configured default. */
  async waitForApproval(
    escalate: () => Promise<void>,
  ): Promise<{ approved: boolean; by?: string; comment?: string }> {
    const policy = this.plan.approval;
    const settled = () => this.rejected !== undefined || this.approvedBy.size >= policy.quorum;
    const inTime = policy.timeoutSeconds
      ? await condition(settled, policy.timeoutSeconds * 1000)
      : (await condition(settled), true);
    if (!inTime) {
      this.timedOut = true;
      this.audit('timeout', 'escalated', 'accepted', `no decision after ${policy.timeoutSeconds} s`);
      await escalate();
      const approved = policy.onTimeout === 'approve';
      this.record.approvals.push({
        by: 'timeout',
        at: this.now(),
        decision: approved ? 'approved' : 'rejected',
        via: 'timeout',
        comment: `default after ${policy.timeoutSeconds} s`,
      });
      this.audit('timeout', 'timeout', 'accepted', `default applied: ${approved ? 'approve' : 'reject'}`);
      return { approved, by: 'timeout', comment: `no decision within ${policy.timeoutSeconds} s` };
    }
    if (this.rejected) return { approved: false, ...this.rejected };
    return { approved: true, by: [...this.approvedBy].join(', ') };
  }

  /** Waits for an operator's decision on a failed step, or applies the default after the timeout. */
  async waitForDecision(
    stepId: string,
    title: string,
    error: string,
    policy: FailurePolicy,
  ): Promise<{ decision: Decision; by: string }> {
    this.pendingDecision = undefined;
    this.record.status = 'awaiting-decision';
    this.record.awaitingDecision = {
      stepId,
      title,
      error,
      since: this.now(),
      defaultDecision: policy.default,
      timeoutSeconds: policy.timeoutSeconds,
    };
    const inTime = await condition(() => this.pendingDecision !== undefined, policy.timeoutSeconds * 1000);
    this.record.awaitingDecision = undefined;
    this.record.status = 'running';
    if (inTime && this.pendingDecision) return this.pendingDecision;
    this.record.decisions.push({
      stepId,
      decision: policy.default,
      by: 'timeout',
      at: this.now(),
      via: 'timeout',
      comment: `no decision within ${policy.timeoutSeconds} s`,
    });
    this.audit('timeout', 'timeout', 'accepted', `default decision ${policy.default} on ${stepId}`);
    return { decision: policy.default, by: 'timeout' };
  }
}
